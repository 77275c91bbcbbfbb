namespace Syllabus.Trainer.Schedules;

/// <summary>
/// Closed forms of the PyTorch schedules that TorchSharp 0.107 lacks or gets wrong, written from
/// torch/optim/lr_scheduler.py; t is the scheduler's last_epoch (intervals taken).
/// </summary>
internal static class ScheduleFormulas
{
    /// <summary>
    /// CosineAnnealingWarmRestarts (absent from TorchSharp): with T_i the current period and T_cur the intervals since the
    /// last restart, lr = eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2, where T_0 is the first period and each
    /// restart multiplies the period by T_mult. PyTorch finds the period with a logarithm; walking the periods gives the
    /// same T_cur and T_i without floating-point error at the restart points.
    /// </summary>
    public static double CosineWarmRestarts(int t, int t0, int tMult, double baseLr, double etaMin)
    {
        long tCur = t, tI = t0;
        while (tCur >= tI)
        {
            tCur -= tI;
            tI *= tMult;
        }

        return etaMin + ((baseLr - etaMin) * (1 + Math.Cos(Math.PI * tCur / tI)) / 2);
    }

    /// <summary>
    /// OneCycleLR, two phases, cosine annealing (TorchSharp's picks the phase by the param-group index instead of the phase
    /// index, so a second group follows the warm-up phase forever). initial = max/div, min = initial/final_div; phase 1 ends
    /// at step pct*total - 1 going initial -> max, phase 2 ends at total - 1 going max -> min; within a phase
    /// lr = end + (start - end)(1 + cos(pi pct))/2 with pct the share of the phase done. Steps past the end hold the final value.
    /// </summary>
    public static double OneCycle(int t, int totalSteps, double pctStart, double maxLr, double divFactor, double finalDivFactor)
    {
        var initial = maxLr / divFactor;
        return OneCyclePhases(t, totalSteps, pctStart, initial, maxLr, initial / finalDivFactor);
    }

    /// <summary>
    /// OneCycleLR's momentum with cycle_momentum: the same two phases, max -> base while the rate rises, base -> max
    /// while it falls (so the momentum is lowest at the peak rate).
    /// </summary>
    public static double OneCycleMomentum(int t, int totalSteps, double pctStart, double baseMomentum, double maxMomentum)
        => OneCyclePhases(t, totalSteps, pctStart, maxMomentum, baseMomentum, maxMomentum);

    private static double OneCyclePhases(int t, int totalSteps, double pctStart, double start, double middle, double end)
    {
        var step = Math.Min(t, totalSteps - 1);
        var end1 = (pctStart * totalSteps) - 1;
        var end2 = totalSteps - 1.0;
        return step <= end1
            ? Anneal(start, middle, end1 <= 0 ? 1 : step / end1)
            : Anneal(middle, end, end2 - end1 <= 0 ? 1 : (step - end1) / (end2 - end1));

        static double Anneal(double from, double to, double pct) => to + ((from - to) / 2.0 * (Math.Cos(Math.PI * pct) + 1));
    }

    /// <summary>
    /// CyclicLR's momentum with cycle_momentum (step_size_down = step_size_up): with cycle = floor(1 + t / (2 up)),
    /// x = 1 + t / (2 up) - cycle and scale = x / 0.5 rising, (x - 1) / -0.5 falling, the momentum is
    /// max - (max - base) scale f, f the mode's scale function of the cycle (Triangular 1, Triangular2 1/2^(cycle-1))
    /// or of t (ExpRange gamma^t): highest where the rate is lowest.
    /// </summary>
    public static double CyclicMomentum(long t, int stepSizeUp, string mode, double gamma, double baseMomentum, double maxMomentum)
    {
        var total = 2.0 * stepSizeUp;
        var cycle = Math.Floor(1 + (t / total));
        var x = 1.0 + (t / total) - cycle;
        var scale = x <= 0.5 ? x / 0.5 : (x - 1) / (0.5 - 1);
        var f = mode switch
        {
            Syllabus.Api.CyclicModes.Triangular2 => 1 / Math.Pow(2, cycle - 1),
            Syllabus.Api.CyclicModes.ExpRange => Math.Pow(gamma, t),
            _ => 1.0,
        };
        return maxMomentum - ((maxMomentum - baseMomentum) * scale * f);
    }

    /// <summary>PolynomialLR closed form: base (1 - min(t, T)/T)^power (TorchSharp's takes an integer power only).</summary>
    public static double Polynomial(int t, int totalIters, double power, double baseLr)
        => baseLr * Math.Pow(1.0 - ((double)Math.Min(t, totalIters) / totalIters), power);
}
