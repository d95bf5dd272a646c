using System.Buffers;
using System.IO.Pipelines;

namespace Hbone.Relay;

/// <summary>
/// The copy loop of one direction, picked by what the source and the sink offer. An idle tunnel waits in two of
/// these frames, so they keep only what must outlive an await: the endpoints come from the relay, not from locals.
/// </summary>
public sealed partial class TunnelRelay
{
    private Task<TunnelOutcome> CopyAsync(bool aToB)
    {
        if (Source(aToB).Reader is not null)
        {
            return CopyFromPipeAsync(aToB);
        }

        return Sink(aToB).Writer is not null ? ReceiveIntoPipeAsync(aToB) : ReceiveIntoBufferAsync(aToB);
    }

    private RelayEndpoint Source(bool aToB) => aToB ? _a : _b;

    private RelayEndpoint Sink(bool aToB) => aToB ? _b : _a;

    /// <summary>Pipe segments go to the sink as they are: a socket sends them in one gather write.</summary>
    private async Task<TunnelOutcome> CopyFromPipeAsync(bool aToB)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await Source(aToB).Reader!.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Finish(Outcome(Source(aToB), ex));
            }

            // The flags and the end position, not the whole result, outlive the send's await.
            var end = result.Buffer.End;
            var completed = result.IsCompleted;
            var canceled = result.IsCanceled;
            TunnelOutcome? failed = null;
            try
            {
                if (!result.Buffer.IsEmpty)
                {
                    var length = result.Buffer.Length;
                    if (await Sink(aToB).SendAsync(result.Buffer, _sends.Token).ConfigureAwait(false))
                    {
                        Count(aToB, length);
                    }
                    else
                    {
                        failed = Sink(aToB).ResetOutcome;
                    }
                }
            }
            catch (Exception ex)
            {
                failed = Outcome(Sink(aToB), ex);
            }
            finally
            {
                Source(aToB).Reader!.AdvanceTo(end);
            }

            // Decided only once the buffer is handed back: the decision tears the endpoints down.
            if (failed is { } outcome)
            {
                return Finish(outcome);
            }

            if (completed)
            {
                return Finish(await EndAsync(Sink(aToB)).ConfigureAwait(false));
            }

            if (canceled)
            {
                // Woken by the relay's own decision (or an owner's cancel): the decision stands.
                return Finish(TunnelOutcome.Aborted);
            }
        }
    }

    /// <summary>Socket reads land in the sink pipe's own memory: no buffer of the relay's, no copy.</summary>
    private async Task<TunnelOutcome> ReceiveIntoPipeAsync(bool aToB)
    {
        while (true)
        {
            try
            {
                // Wait for data before taking pipe memory: an idle tunnel then costs no buffer.
                await Source(aToB).WaitForDataAsync(default).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Finish(Outcome(Source(aToB), ex));
            }

            Memory<byte> memory;
            try
            {
                memory = Sink(aToB).Writer!.GetMemory(ReadSize)[..ReadSize];
            }
            catch (Exception ex)
            {
                return Finish(Outcome(Sink(aToB), ex));
            }

            int read;
            try
            {
                read = await Source(aToB).ReceiveAsync(memory, default).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Finish(Outcome(Source(aToB), ex));
            }

            if (read == 0)
            {
                return Finish(await EndAsync(Sink(aToB)).ConfigureAwait(false));
            }

            try
            {
                // Counted once committed, before the flush waits for the peer's window.
                var open = Sink(aToB).CommitAsync(read, _sends.Token);
                Count(aToB, read);
                if (!await open.ConfigureAwait(false))
                {
                    return Finish(Sink(aToB).ResetOutcome);
                }
            }
            catch (Exception ex)
            {
                return Finish(Outcome(Sink(aToB), ex));
            }
        }
    }

    /// <summary>Socket to socket (or tunnel stream): one pooled buffer per read, returned before the next wait.</summary>
    private async Task<TunnelOutcome> ReceiveIntoBufferAsync(bool aToB)
    {
        while (true)
        {
            byte[]? buffer = null;
            try
            {
                int read;
                try
                {
                    // Wait for data before renting: an idle connection holds no buffer memory.
                    await Source(aToB).WaitForDataAsync(default).ConfigureAwait(false);
                    buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
                    read = await Source(aToB).ReceiveAsync(buffer.AsMemory(0, ReadSize), default).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    return Finish(Outcome(Source(aToB), ex));
                }

                if (read == 0)
                {
                    return Finish(await EndAsync(Sink(aToB)).ConfigureAwait(false));
                }

                try
                {
                    if (!await Sink(aToB).SendAsync(buffer.AsMemory(0, read), _sends.Token).ConfigureAwait(false))
                    {
                        return Finish(Sink(aToB).ResetOutcome);
                    }

                    Count(aToB, read);
                }
                catch (Exception ex)
                {
                    return Finish(Outcome(Sink(aToB), ex));
                }
            }
            finally
            {
                if (buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
    }

    /// <summary>The source half-closed: pass it on as the sink's half-close; the other direction keeps flowing.</summary>
    private async Task<TunnelOutcome> EndAsync(RelayEndpoint sink)
    {
        try
        {
            await sink.CompleteWritesAsync(_sends.Token).ConfigureAwait(false);
            return TunnelOutcome.Completed;
        }
        catch (Exception ex)
        {
            return Outcome(sink, ex);
        }
    }
}
