using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>
/// The gauge <c>syllabus_drift_score{policy,detector,feature}</c>: every detector's latest score (feature "" for the
/// detector's own: the drifted share, a distance or p-value, a drop, a query value) and, for FeatureDrift, each tested
/// feature's p-value or distance. A policy's series go when the policy leaves the cache.
/// </summary>
public sealed class DriftScores
{
    private readonly ConcurrentDictionary<ObjectKey, (string Uid, IReadOnlyList<(string Detector, string Feature, double Score)> Scores)> latest = new();
    private readonly ICacheReader<DriftPolicy> policies;

    public DriftScores(IMeterFactory meters, ICacheReader<DriftPolicy> policies)
    {
        ArgumentNullException.ThrowIfNull(meters);
        this.policies = policies;
        meters.Create(OperatorMetrics.MeterName).CreateObservableGauge("syllabus.drift.score", Observe,
            description: "Latest drift score by policy, detector and feature (feature empty for the detector's own score).");
    }

    public void Set(DriftPolicy policy, IReadOnlyList<(string Detector, string Feature, double Score)> scores)
    {
        ArgumentNullException.ThrowIfNull(policy);
        latest[ObjectKey.From(policy)] = (policy.Metadata.Uid, scores);
    }

    private IEnumerable<Measurement<double>> Observe()
    {
        foreach (var (key, (uid, scores)) in latest)
        {
            if (!policies.Contains(key.Namespace, key.Name, uid))
            {
                latest.TryRemove(key, out _);
                continue;
            }

            var name = $"{key.Namespace}/{key.Name}";
            foreach (var (detector, feature, score) in scores)
            {
                yield return new Measurement<double>(score,
                    new KeyValuePair<string, object?>("policy", name),
                    new KeyValuePair<string, object?>("detector", detector),
                    new KeyValuePair<string, object?>("feature", feature));
            }
        }
    }
}
