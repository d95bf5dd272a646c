using System.Buffers;
using System.IO.Pipelines;

namespace Hbone.Relay;

/// <summary>The copy loop of one direction, picked by what the source and the sink offer.</summary>
public sealed partial class TunnelRelay
{
    private Task<TunnelOutcome> CopyAsync(RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken cancellationToken)
    {
        if (source.Reader is { } reader)
        {
            return CopyFromPipeAsync(reader, source, sink, aToB, cancellationToken);
        }

        return sink.Writer is { } writer
            ? ReceiveIntoPipeAsync(writer, source, sink, aToB, cancellationToken)
            : ReceiveIntoBufferAsync(source, sink, aToB, cancellationToken);
    }

    /// <summary>Pipe segments go to the sink as they are: a socket sends them in one gather write.</summary>
    private async Task<TunnelOutcome> CopyFromPipeAsync(PipeReader reader, RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Outcome(source, ex);
            }

            var buffer = result.Buffer;
            try
            {
                if (!buffer.IsEmpty)
                {
                    if (!await sink.SendAsync(buffer, cancellationToken).ConfigureAwait(false))
                    {
                        return sink.ResetOutcome;
                    }

                    Count(aToB, buffer.Length);
                }
            }
            catch (Exception ex)
            {
                return Outcome(sink, ex);
            }
            finally
            {
                reader.AdvanceTo(buffer.End);
            }

            if (result.IsCompleted)
            {
                return await EndAsync(sink, cancellationToken).ConfigureAwait(false);
            }

            if (result.IsCanceled)
            {
                return TunnelOutcome.Aborted;
            }
        }
    }

    /// <summary>Socket reads land in the sink pipe's own memory: no buffer of the relay's, no copy.</summary>
    private async Task<TunnelOutcome> ReceiveIntoPipeAsync(PipeWriter writer, RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                // Wait for data before taking pipe memory: an idle tunnel then costs no buffer.
                await source.WaitForDataAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Outcome(source, ex);
            }

            Memory<byte> memory;
            try
            {
                memory = writer.GetMemory(ReadSize)[..ReadSize];
            }
            catch (Exception ex)
            {
                return Outcome(sink, ex);
            }

            int read;
            try
            {
                read = await source.ReceiveAsync(memory, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                return Outcome(source, ex);
            }

            if (read == 0)
            {
                return await EndAsync(sink, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                // Counted once committed, before the flush waits for the peer's window.
                var open = sink.CommitAsync(read, cancellationToken);
                Count(aToB, read);
                if (!await open.ConfigureAwait(false))
                {
                    return sink.ResetOutcome;
                }
            }
            catch (Exception ex)
            {
                return Outcome(sink, ex);
            }
        }
    }

    /// <summary>Socket to socket (or tunnel stream): one pooled buffer per read, returned before the next wait.</summary>
    private async Task<TunnelOutcome> ReceiveIntoBufferAsync(RelayEndpoint source, RelayEndpoint sink, bool aToB, CancellationToken cancellationToken)
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
                    await source.WaitForDataAsync(cancellationToken).ConfigureAwait(false);
                    buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
                    read = await source.ReceiveAsync(buffer.AsMemory(0, ReadSize), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    return Outcome(source, ex);
                }

                if (read == 0)
                {
                    return await EndAsync(sink, cancellationToken).ConfigureAwait(false);
                }

                try
                {
                    if (!await sink.SendAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false))
                    {
                        return sink.ResetOutcome;
                    }

                    Count(aToB, read);
                }
                catch (Exception ex)
                {
                    return Outcome(sink, ex);
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
    private async Task<TunnelOutcome> EndAsync(RelayEndpoint sink, CancellationToken cancellationToken)
    {
        try
        {
            await sink.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
            return TunnelOutcome.Completed;
        }
        catch (Exception ex)
        {
            return Outcome(sink, ex);
        }
    }
}
