using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Hbone.Http2;

namespace Hbone.Tests.Http2;

/// <summary>
/// A stream's received DATA without a Pipe per stream (issue 10: memory per idle tunnel; new case id MEM-02, not in
/// the catalogue): the reader semantics the relay and HboneStream rely on, consumed counts for WINDOW_UPDATE, and no
/// array held once everything was consumed.
/// </summary>
public sealed class StreamInputBufferTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "MEM-02")]
    public async Task Data_written_in_many_frames_reads_back_byte_for_byte_and_every_byte_is_counted_as_consumed_once()
    {
        var input = new TestInput();
        var sent = RandomNumberGenerator.GetBytes(300 * 1024);
        var writer = Task.Run(() =>
        {
            // DATA frames of every size up to one record, as the read loop hands them over.
            var offset = 0;
            for (var size = 1; offset < sent.Length; size = size * 3 % 16_375 + 1)
            {
                var count = Math.Min(size, sent.Length - offset);
                input.Write(new ReadOnlySequence<byte>(sent, offset, count));
                offset += count;
            }

            input.CompleteWriting();
        });

        using var received = new MemoryStream();
        while (true)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Deadline);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await writer.WaitAsync(Deadline);
        Assert.Equal(SHA256.HashData(sent), SHA256.HashData(received.ToArray()));
        Assert.Equal(sent.Length, input.Consumed);
        Assert.Equal(0, input.Length);
    }

    [Fact]
    [Trait("case", "MEM-02")]
    public async Task A_read_that_examined_everything_waits_for_new_data_and_one_that_did_not_returns_at_once()
    {
        var input = new TestInput();
        input.Write(new ReadOnlySequence<byte>("abcd"u8.ToArray()));

        var first = await input.ReadAsync();
        Assert.Equal(4, first.Buffer.Length);

        // Consumed 1, examined 2: the unexamined rest makes the next read complete at once.
        input.AdvanceTo(first.Buffer.GetPosition(1), first.Buffer.GetPosition(2));
        var second = input.ReadAsync();
        Assert.True(second.IsCompleted);
        Assert.Equal("bcd"u8.ToArray(), (await second).Buffer.ToArray());

        // Examined to the end: the next read waits until more arrives.
        var secondResult = await second;
        input.AdvanceTo(secondResult.Buffer.Start, secondResult.Buffer.End);
        var third = input.ReadAsync();
        Assert.False(third.IsCompleted);
        input.Write(new ReadOnlySequence<byte>("e"u8.ToArray()));
        Assert.Equal("bcde"u8.ToArray(), (await third.AsTask().WaitAsync(Deadline)).Buffer.ToArray());
        Assert.Equal(1, input.Consumed);
    }

    [Fact]
    [Trait("case", "MEM-02")]
    public async Task A_reset_after_the_end_was_buffered_fails_the_read_instead_of_reading_as_a_clean_end()
    {
        var input = new TestInput();
        input.Write(new ReadOnlySequence<byte>(new byte[10]));
        input.CompleteWriting();
        input.Fail(new IOException("reset by the peer"));

        var error = await Assert.ThrowsAsync<IOException>(async () => await input.ReadAsync());
        Assert.Equal("reset by the peer", error.Message);
    }

    [Fact]
    [Trait("case", "MEM-02")]
    public async Task A_pending_read_wakes_with_the_failure_the_end_a_cancel_or_its_token()
    {
        var failed = new TestInput();
        var pending = failed.ReadAsync().AsTask();
        failed.Fail(new IOException("reset"));
        await Assert.ThrowsAsync<IOException>(() => pending.WaitAsync(Deadline));

        var ended = new TestInput();
        pending = ended.ReadAsync().AsTask();
        ended.CompleteWriting();
        var end = await pending.WaitAsync(Deadline);
        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);

        var canceled = new TestInput();
        pending = canceled.ReadAsync().AsTask();
        canceled.CancelPendingRead();
        Assert.True((await pending.WaitAsync(Deadline)).IsCanceled);

        // A cancel with no read pending applies to the next read; the one after it waits again.
        canceled.CancelPendingRead();
        Assert.True((await canceled.ReadAsync()).IsCanceled);
        Assert.False(canceled.ReadAsync().IsCompleted);

        var withToken = new TestInput();
        using var cts = new CancellationTokenSource();
        pending = withToken.ReadAsync(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Deadline));

        // The reader is usable again after a cancelled read, and data written meanwhile is still there.
        withToken.Write(new ReadOnlySequence<byte>(new byte[3]));
        Assert.Equal(3, (await withToken.ReadAsync().AsTask().WaitAsync(Deadline)).Buffer.Length);
    }

    [Fact]
    [Trait("case", "MEM-02")]
    public async Task Completing_the_reader_drops_what_is_buffered_and_later_data_is_ignored()
    {
        var input = new TestInput();
        input.Write(new ReadOnlySequence<byte>(new byte[100]));
        var result = await input.ReadAsync();
        input.AdvanceTo(result.Buffer.GetPosition(40));

        input.Complete();
        input.Write(new ReadOnlySequence<byte>(new byte[5]));

        Assert.Equal(1, input.ReaderCompletions);
        Assert.Equal(40, input.Consumed);
        Assert.Equal(0, input.Length);
        Assert.Throws<InvalidOperationException>(() => input.TryRead(out _));
    }

    [Fact]
    [Trait("case", "MEM-02")]
    public async Task Once_everything_is_consumed_the_input_holds_no_data_and_reading_again_still_works()
    {
        var input = new TestInput();
        for (var round = 0; round < 3; round++)
        {
            var data = RandomNumberGenerator.GetBytes(40_000);
            input.Write(new ReadOnlySequence<byte>(data));
            var result = await input.ReadAsync();
            Assert.Equal(data, result.Buffer.ToArray());
            input.AdvanceTo(result.Buffer.End);
            Assert.Equal(0, input.Length);
            Assert.False(input.TryRead(out _));
        }

        Assert.Equal(120_000, input.Consumed);
    }

    private sealed class TestInput() : StreamInputBuffer(PipeScheduler.ThreadPool, new object())
    {
        private long _consumed;

        public long Consumed => Interlocked.Read(ref _consumed);

        public int ReaderCompletions { get; private set; }

        protected override void OnConsumed(long count) => Interlocked.Add(ref _consumed, count);

        protected override void OnReaderCompleted() => ReaderCompletions++;
    }
}
