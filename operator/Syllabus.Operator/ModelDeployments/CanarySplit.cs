namespace Syllabus.Operator.ModelDeployments;

/// <summary>
/// Replicas of the stable and canary arms for a canary weight, as Argo Rollouts' basic canary (no traffic router) sets
/// them: the canary gets the nearest whole number of the replicas (ties up), and with a weight between 1 and 99 each
/// arm keeps at least one replica, so a weight is never silently 0% or 100%. With one replica that takes a second
/// pod (the split is then 50%), which is what Argo's surge allows too. The Service sends each arm its share of
/// connections, so the share of traffic is the share of ready replicas.
/// </summary>
public static class CanarySplit
{
    public static (int Stable, int Canary) Replicas(int replicas, int weightPercent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(replicas);
        ArgumentOutOfRangeException.ThrowIfNegative(weightPercent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(weightPercent, 100);
        if (replicas == 0 || weightPercent == 0)
        {
            return (replicas, 0);
        }

        if (weightPercent == 100)
        {
            return (0, replicas);
        }

        if (replicas == 1)
        {
            return (1, 1);
        }

        // Nearest whole replica, ties up: floor(x + 0.5) in integers.
        var canary = ((replicas * weightPercent * 2) + 100) / 200;
        canary = Math.Clamp(canary, 1, replicas - 1);
        return (replicas - canary, canary);
    }

    /// <summary>The share of replicas (percent, rounded) the canary actually has.</summary>
    public static int ActualWeight(int stable, int canary) =>
        stable + canary == 0 ? 0 : (int)Math.Round(100.0 * canary / (stable + canary), MidpointRounding.AwayFromZero);
}
