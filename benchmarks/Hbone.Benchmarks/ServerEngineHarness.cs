using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Hbone.Http2;
using Hbone.Http2.Hpack;
using Hbone.Identity;
using Hbone.Kestrel;
using Hbone.Kestrel.Http2;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Benchmarks;

/// <summary>
/// One <see cref="Http2ServerConnection"/> over in-memory pipes with a scripted client: preface, SETTINGS and
/// one CONNECT whose tunnel the handler hands over. Both pipes resume their readers inline and never pause,
/// so a client write runs the engine's read loop on the caller's thread and the engine's writes land in the
/// output pipe at once: a DATA frame's whole path runs synchronously, and allocations are the engine's own.
/// </summary>
internal sealed class ServerEngineHarness : IAsyncDisposable
{
    /// <summary>The client's windows: large enough that the engine never waits while credit is returned.</summary>
    private const int ClientWindow = 16 * 1024 * 1024;

    /// <summary>Credit goes back once this much DATA arrived, as a peer returning half its window would.</summary>
    private const int CreditThreshold = 64 * 1024;

    private static readonly PipeOptions s_inline = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false);

    private readonly Pipe _toServer = new(s_inline);
    private readonly Pipe _toClient = new(s_inline);
    private readonly TunnelHandler _handler = new();
    private readonly InMemoryConnectionContext _context;
    private readonly Task _run;
    private long _uncredited;

    public ServerEngineHarness()
    {
        _context = new InMemoryConnectionContext(new DuplexPipe(_toServer.Reader, _toClient.Writer), SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client"), SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/server"));
        var options = new HboneServerOptions { KeepAlivePingDelay = TimeSpan.FromHours(1), KeepAlivePingTimeout = TimeSpan.FromHours(1) };
        var services = new ServiceCollection().AddSingleton<IHboneConnectHandler>(_handler).BuildServiceProvider();
        var dispatcher = new HboneConnectDispatcher(services, options, NullLogger.Instance);
        _run = new Http2ServerConnection(_context, options, dispatcher, NullLogger.Instance).RunAsync();
    }

    /// <summary>The accepted tunnel (after <see cref="OpenTunnelAsync"/>).</summary>
    public HboneTunnel Tunnel { get; private set; } = null!;

    /// <summary>Sends the preface, SETTINGS and a CONNECT on stream 1; returns once the 200 and the tunnel are there.</summary>
    public async Task OpenTunnelAsync()
    {
        var writer = _toServer.Writer;
        writer.Write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8);
        Span<byte> settings = stackalloc byte[6];
        BinaryPrimitives.WriteUInt16BigEndian(settings, SettingId.InitialWindowSize);
        BinaryPrimitives.WriteUInt32BigEndian(settings[2..], ClientWindow);
        WriteFrame(FrameType.Settings, FrameFlags.None, 0, settings);
        WriteWindowUpdate(0, ClientWindow - 65535);

        Span<byte> block = stackalloc byte[64];
        HpackEncoder.TryEncodeHeader(2, "CONNECT", block, out var length);
        HpackEncoder.TryEncodeHeader(1, "10.0.0.1:8080", block[length..], out var authority);
        WriteFrame(FrameType.Headers, FrameFlags.EndHeaders, 1, block[..(length + authority)]);
        await writer.FlushAsync().ConfigureAwait(false);

        Tunnel = await _handler.Accepted.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await ReadUntilAnsweredAsync().ConfigureAwait(false);
    }

    /// <summary>Writes pre-built frames into the engine's input; the engine parses them before this returns.</summary>
    public void SendToServer(ReadOnlySpan<byte> frames)
    {
        _toServer.Writer.Write(frames);
        Complete(_toServer.Writer.FlushAsync());
    }

    /// <summary>
    /// Reads what the engine wrote until <paramref name="dataBytes"/> of DATA arrived (0: just what is there),
    /// returning WINDOW_UPDATEs as the client's windows need them.
    /// </summary>
    public void ReceiveFromServer(long dataBytes)
    {
        var reader = _toClient.Reader;
        while (true)
        {
            if (!reader.TryRead(out var result))
            {
                if (dataBytes <= 0)
                {
                    return;
                }

                // Only when the engine has not framed everything yet: never in the steady state.
                result = reader.ReadAsync().AsTask().GetAwaiter().GetResult();
            }

            var buffer = result.Buffer;
            dataBytes -= ParseFrames(ref buffer);
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (dataBytes <= 0 && buffer.IsEmpty)
            {
                return;
            }

            if (_context.AbortReason is { } aborted)
            {
                throw new InvalidOperationException("The engine aborted the connection.", aborted);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _handler.Release.TrySetResult();
        _toServer.Writer.Complete();
        await _run.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _toClient.Reader.Complete();
        await _context.DisposeAsync().ConfigureAwait(false);
    }

    private async Task ReadUntilAnsweredAsync()
    {
        var reader = _toClient.Reader;
        var answered = false;
        while (!answered)
        {
            var result = await reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var buffer = result.Buffer;
            while (TryReadFrame(ref buffer, out var header))
            {
                answered |= header.Type == FrameType.Headers && header.StreamId == 1;
                if (header.Type is FrameType.GoAway or FrameType.RstStream)
                {
                    throw new InvalidOperationException($"The engine refused the tunnel: {header}.");
                }
            }

            Complete(_toServer.Writer.FlushAsync());
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Consumes the complete frames in <paramref name="buffer"/>; returns the DATA payload bytes seen.</summary>
    private long ParseFrames(ref ReadOnlySequence<byte> buffer)
    {
        long data = 0;
        while (TryReadFrame(ref buffer, out var header))
        {
            data += header.Type == FrameType.Data ? header.Length : 0;
        }

        _uncredited += data;
        if (_uncredited >= CreditThreshold)
        {
            WriteWindowUpdate(1, (int)_uncredited);
            WriteWindowUpdate(0, (int)_uncredited);
            _uncredited = 0;
        }

        if (_toServer.Writer.UnflushedBytes > 0)
        {
            Complete(_toServer.Writer.FlushAsync());
        }

        return data;
    }

    /// <summary>Takes one complete frame off <paramref name="buffer"/>, acknowledging the engine's SETTINGS.</summary>
    private bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out FrameHeader header)
    {
        header = buffer.Length >= FrameHeader.Size ? FrameHeader.Read(buffer) : default;
        if (buffer.Length < FrameHeader.Size || buffer.Length < FrameHeader.Size + header.Length)
        {
            return false;
        }

        if (header.Type == FrameType.Settings && !header.HasFlag(FrameFlags.Ack))
        {
            WriteFrame(FrameType.Settings, FrameFlags.Ack, 0, []);
        }

        buffer = buffer.Slice(FrameHeader.Size + header.Length);
        return true;
    }

    private void WriteWindowUpdate(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        WriteFrame(FrameType.WindowUpdate, FrameFlags.None, streamId, payload);
    }

    private void WriteFrame(FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var span = _toServer.Writer.GetSpan(FrameHeader.Size + payload.Length);
        FrameHeader.Write(span, payload.Length, type, flags, streamId);
        payload.CopyTo(span[FrameHeader.Size..]);
        _toServer.Writer.Advance(FrameHeader.Size + payload.Length);
    }

    // The input pipe never pauses, so its flush is complete; anything else means the harness is broken.
    private static void Complete(ValueTask<FlushResult> flush)
    {
        if (!flush.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The in-memory transport flush did not complete synchronously.");
        }

        _ = flush.Result;
    }

    /// <summary>Builds one DATA frame on stream 1 with a payload of <paramref name="size"/> bytes.</summary>
    public static byte[] DataFrame(int size)
    {
        var frame = new byte[FrameHeader.Size + size];
        FrameHeader.Write(frame, size, FrameType.Data, FrameFlags.None, 1);
        return frame;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>Accepts the CONNECT, hands the tunnel to the benchmark and holds it open until disposal.</summary>
    private sealed class TunnelHandler : IHboneConnectHandler
    {
        public TaskCompletionSource<HboneTunnel> Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask HandleAsync(HboneConnectContext context)
        {
            var tunnel = await context.AcceptAsync().ConfigureAwait(false);
            Accepted.TrySetResult(tunnel);
            await Release.Task.ConfigureAwait(false);
        }
    }
}
