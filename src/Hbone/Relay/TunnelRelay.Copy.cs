using System.Buffers;
using System.IO.Pipelines;

namespace Hbone.Relay;

/// <summary>The copy loop of one direction, picked by what the source and the sink offer.</summary>
public sealed partial class TunnelRelay
{
    private Task<TunnelOutcome> CopyAsync(RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken sendToken)
    {
        if (source.Reader is { } reader)
        {
            return CopyFromPipeAsync(reader, source, sink, aToB, sendToken);
        }

        return sink.Writer is { } writer
            ? ReceiveIntoPipeAsync(writer, source, sink, aToB, sendToken)
            : ReceiveIntoBufferAsync(source, sink, aToB, sendToken);
    }

    /// <summary>Pipe segments go to the sink as they are: a socket sends them in one gather write.</summary>
    private async Task<TunnelOutcome> CopyFromPipeAsync(PipeReader reader, RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken sendToken)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Finish(Outcome(source, ex));
            }

            var buffer = result.Buffer;
            TunnelOutcome? failed = null;
            try
            {
                if (!buffer.IsEmpty)
                {
                    if (await sink.SendAsync(buffer, sendToken).ConfigureAwait(false))
                    {
                        Count(aToB, buffer.Length);
                    }
                    else
                    {
                        failed = sink.ResetOutcome;
                    }
                }
            }
            catch (Exception ex)
            {
                failed = Outcome(sink, ex);
            }
            finally
            {
                reader.AdvanceTo(buffer.End);
            }

            // Decided only once the buffer is handed back: the decision tears the endpoints down.
            if (failed is { } outcome)
            {
                return Finish(outcome);
            }

            if (result.IsCompleted)
            {
                return Finish(await EndAsync(sink, sendToken).ConfigureAwait(false));
            }

            if (result.IsCanceled)
            {
                // Woken by the relay's own decision (or an owner's cancel): the decision stands.
                return Finish(TunnelOutcome.Aborted);
            }
        }
    }

    /// <summary>Socket reads land in the sink pipe's own memory: no buffer of the relay's, no copy.</summary>
    private async Task<TunnelOutcome> ReceiveIntoPipeAsync(PipeWriter writer, RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken sendToken)
    {
        while (true)
        {
            try
            {
                // Wait for data before taking pipe memory: an idle tunnel then costs no buffer.
                await source.WaitForDataAsync(default).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Finish(Outcome(source, ex));
            }

            Memory<byte> memory;
            try
            {
                memory = writer.GetMemory(ReadSize)[..ReadSize];
            }
            catch (Exception ex)
            {
                return Finish(Outcome(sink, ex));
            }

            int read;
            try
            {
                read = await source.ReceiveAsync(memory, default).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Finish(Outcome(source, ex));
            }

            if (read == 0)
            {
                return Finish(await EndAsync(sink, sendToken).ConfigureAwait(false));
            }

            try
            {
                // Counted once committed, before the flush waits for the peer's window.
                var open = sink.CommitAsync(read, sendToken);
                Count(aToB, read);
                if (!await open.ConfigureAwait(false))
                {
                    return Finish(sink.ResetOutcome);
                }
            }
            catch (Exception ex)
            {
                return Finish(Outcome(sink, ex));
            }
        }
    }

    /// <summary>Socket to socket (or tunnel stream): one pooled buffer per read, returned before the next wait.</summary>
    private async Task<TunnelOutcome> ReceiveIntoBufferAsync(RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken sendToken)
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
                    await source.WaitForDataAsync(default).ConfigureAwait(false);
                    buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
                    read = await source.ReceiveAsync(buffer.AsMemory(0, ReadSize), default).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    return Finish(Outcome(source, ex));
                }

                if (read == 0)
                {
                    return Finish(await EndAsync(sink, sendToken).ConfigureAwait(false));
                }

                try
                {
                    if (!await sink.SendAsync(buffer.AsMemory(0, read), sendToken).ConfigureAwait(false))
                    {
                        return Finish(sink.ResetOutcome);
                    }

                    Count(aToB, read);
                }
                catch (Exception ex)
                {
                    return Finish(Outcome(sink, ex));
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
    private async Task<TunnelOutcome> EndAsync(RelayEndpoint sink, CancellationToken sendToken)
    {
        try
        {
            await sink.CompleteWritesAsync(sendToken).ConfigureAwait(false);
            return TunnelOutcome.Completed;
        }
        catch (Exception ex)
        {
            return Outcome(sink, ex);
        }
    }
}
