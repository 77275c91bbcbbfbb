using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.Tests.ModelDeployments;

public sealed class CanarySplitTests
{
    [Theory]
    [InlineData(10, 10, 9, 1)]
    [InlineData(10, 15, 8, 2)] // 1.5 replicas: ties go up
    [InlineData(10, 14, 9, 1)]
    [InlineData(5, 50, 2, 3)] // 2.5 -> 3
    [InlineData(4, 10, 3, 1)] // 0.4 rounds to 0, but a weight between 1 and 99 keeps one canary
    [InlineData(3, 99, 1, 2)] // 2.97 rounds to 3, but the stable arm keeps one
    [InlineData(1, 20, 1, 1)] // one replica: a second pod, as Argo's surge
    [InlineData(0, 20, 0, 0)]
    [InlineData(6, 0, 6, 0)]
    [InlineData(6, 100, 0, 6)]
    public void The_canary_gets_the_nearest_whole_replica_ties_up_and_each_arm_keeps_one(int replicas, int weight, int stable, int canary) =>
        Assert.Equal((stable, canary), CanarySplit.Replicas(replicas, weight));

    [Fact]
    public void The_actual_weight_is_the_canary_share_of_the_replicas()
    {
        Assert.Equal(10, CanarySplit.ActualWeight(9, 1));
        Assert.Equal(50, CanarySplit.ActualWeight(1, 1));
        Assert.Equal(25, CanarySplit.ActualWeight(3, 1));
    }
}
