namespace Syllabus.Trainer.Schedules;

/// <summary>
/// Closed forms of the PyTorch schedules that TorchSharp 0.107 lacks or gets wrong, written from
/// torch/optim/lr_scheduler.py; t is the scheduler's last_epoch (intervals taken).
/// </summary>
internal static class ScheduleFormulas
{
    /// <summary>
    /// CosineAnnealingWarmRestarts (absent from TorchSharp): with T_i the current period and T_cur the intervals since the
    /// last restart, lr = eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2. With T_mult = 1, T_cur = t mod T_0;
    /// otherwise n = floor(log_{T_mult}(t (T_mult - 1) / T_0 + 1)), T_cur = t - T_0 (T_mult^n - 1)/(T_mult - 1), T_i = T_0 T_mult^n.
    /// </summary>
    public static double CosineWarmRestarts(int t, int t0, int tMult, double baseLr, double etaMin)
    {
        double tCur, tI;
        if (tMult == 1)
        {
            tCur = t % t0;
            tI = t0;
        }
        else
        {
            var n = Math.Floor(Math.Log((t * (tMult - 1.0) / t0) + 1.0, tMult));
            tCur = t - (t0 * (Math.Pow(tMult, n) - 1.0) / (tMult - 1.0));
            tI = t0 * Math.Pow(tMult, n);
            // Guard floating-point error at exact restart points (log may land a hair below an integer).
            if (tCur >= tI)
            {
                tCur -= tI;
                tI *= tMult;
            }
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
        var min = initial / finalDivFactor;
        var step = Math.Min(t, totalSteps - 1);
        var end1 = (pctStart * totalSteps) - 1;
        var end2 = totalSteps - 1.0;
        return step <= end1
            ? Anneal(initial, maxLr, end1 <= 0 ? 1 : step / end1)
            : Anneal(maxLr, min, (step - end1) / (end2 - end1));

        static double Anneal(double start, double end, double pct) => end + ((start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1));
    }

    /// <summary>PolynomialLR closed form: base (1 - min(t, T)/T)^power (TorchSharp's takes an integer power only).</summary>
    public static double Polynomial(int t, int totalIters, double power, double baseLr)
        => baseLr * Math.Pow(1.0 - ((double)Math.Min(t, totalIters) / totalIters), power);
}
