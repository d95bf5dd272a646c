using System.Diagnostics;

namespace Hbone.TunnelBench;

/// <summary>The figures of one rate run: operations that completed, failed, the first failure, and the wall time.</summary>
internal sealed record RateResult(long Completed, long Failed, string? FirstError, double Seconds)
{
    /// <summary>The run's JSON fields after the test's own: seconds, the count as <paramref name="unit"/>, errors, <c>{unit}_per_s</c>, first_error.</summary>
    public void Write(System.Text.Json.Utf8JsonWriter w, string unit)
    {
        w.WriteNumber("seconds", Math.Round(Seconds, 3));
        w.WriteNumber(unit, Completed);
        w.WriteNumber("errors", Failed);
        w.WriteNumber($"{unit}_per_s", Math.Round(Completed / Seconds, 1));
        if (FirstError is not null)
        {
            w.WriteString("first_error", FirstError);
        }
    }
}

/// <summary>
/// Runs one operation in a loop on W workers for a duration (connrate, streamrate). Each attempt is bounded to
/// 5 s, so a stuck one cannot outlast the run by more than that; failures the caller names are counted, others throw.
/// </summary>
internal static class RateRun
{
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(5);

    public static async Task<RateResult> RunAsync(
        int workers, TimeSpan duration, Func<CancellationToken, Task> operation, Func<Exception, bool> isFailure, CancellationToken token)
    {
        long completed = 0, failed = 0;
        string? firstError = null;
        var clock = Stopwatch.StartNew();
        async Task WorkerAsync()
        {
            while (clock.Elapsed < duration && !token.IsCancellationRequested)
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
                attempt.CancelAfter(AttemptTimeout);
                try
                {
                    await operation(attempt.Token);
                    Interlocked.Increment(ref completed);
                }
                catch (Exception e) when (isFailure(e))
                {
                    Interlocked.Increment(ref failed);
                    Interlocked.CompareExchange(ref firstError, e.Message, null);
                }
            }
        }

        var tasks = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            tasks[i] = Task.Run(WorkerAsync, CancellationToken.None);
        }

        await Task.WhenAll(tasks);
        return new RateResult(completed, failed, firstError, clock.Elapsed.TotalSeconds);
    }
}
