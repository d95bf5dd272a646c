using Hbone.Http2;

namespace Hbone.Tests.Http2;

/// <summary>
/// The per-stream pipes' reader scheduler (issue 10: latency and CPU per exchange; new case id INL-01, not in the catalogue):
/// wake-ups a read loop causes are held until its read is processed, then run on its thread for a small read.
/// </summary>
public sealed class StreamReaderSchedulerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "INL-01")]
    public void A_small_read_runs_the_held_wake_ups_on_the_loop_thread_after_the_read_not_during_it()
    {
        var scheduler = new StreamReaderScheduler(preferInline: true);
        var ranOn = new List<int>();

        scheduler.BeginRead();
        scheduler.Schedule(_ => ranOn.Add(Environment.CurrentManagedThreadId), null);
        scheduler.Schedule(_ => ranOn.Add(Environment.CurrentManagedThreadId), null);
        Assert.Empty(ranOn);

        scheduler.EndRead(1024);

        Assert.Equal([Environment.CurrentManagedThreadId, Environment.CurrentManagedThreadId], ranOn);
    }

    [Theory]
    [Trait("case", "INL-01")]
    [InlineData(StreamReaderScheduler.InlineReadLimit + 1)]
    [InlineData(long.MaxValue)] // a read that failed half-way
    public async Task A_bulk_or_failed_read_hands_the_held_wake_ups_to_the_thread_pool(long bytesRead)
    {
        var scheduler = new StreamReaderScheduler(preferInline: true);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();

        scheduler.BeginRead();
        scheduler.Schedule(_ =>
        {
            release.Wait(Deadline); // run inline, it would hold EndRead until the deadline and complete first
            ran.TrySetResult();
        }, null);
        scheduler.EndRead(bytesRead);

        Assert.False(ran.Task.IsCompleted);
        release.Set();
        await ran.Task.WaitAsync(Deadline);
    }

    [Fact]
    [Trait("case", "INL-01")]
    public async Task A_wake_up_from_another_thread_during_a_read_goes_to_the_thread_pool_at_once()
    {
        var scheduler = new StreamReaderScheduler(preferInline: true);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        scheduler.BeginRead();
        // A thread of its own: a pool thread could be this very thread once the test awaits, which is no "other thread".
        var other = new Thread(() => scheduler.Schedule(_ => ran.TrySetResult(), null));
        other.Start();
        Assert.True(other.Join(Deadline));

        await ran.Task.WaitAsync(Deadline); // ran although the loop's read has not ended (no await between Begin and End in the loop)
        scheduler.EndRead(100);
    }

    [Fact]
    [Trait("case", "INL-01")]
    public async Task Without_inline_scheduling_every_wake_up_goes_to_the_thread_pool_at_once()
    {
        var scheduler = new StreamReaderScheduler(preferInline: false);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();

        scheduler.BeginRead();
        scheduler.Schedule(_ =>
        {
            release.Wait(Deadline);
            ran.TrySetResult();
        }, null);
        Assert.False(ran.Task.IsCompleted); // queued, not run here

        release.Set();
        await ran.Task.WaitAsync(Deadline); // and it runs before the read ends
        scheduler.EndRead(100);
    }
}
