namespace Syllabus.Operator.Tests;

/// <summary>Polling assertions for things that happen asynchronously (a reconcile, a pod phase, a status write).</summary>
internal static class Eventually
{
    /// <summary>Polls an in-memory condition (every 10 ms by default) until it holds, or fails naming <paramref name="what"/>.</summary>
    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, timeout, interval ?? TimeSpan.FromMilliseconds(10));

    /// <summary>Polls a condition that asks an API (every 500 ms by default) until it holds, or fails naming <paramref name="what"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {limit.TotalSeconds:0} s waiting for: {what}");
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Polls until <paramref name="check"/> returns a value, or fails with what was last seen.</summary>
    public static async Task<T> GetAsync<T>(Func<Task<T?>> check, TimeSpan timeout, Func<string> describe)
        where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await check() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds:0} s: {describe()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        }
    }
}
