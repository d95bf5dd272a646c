using System.Net.Sockets;

namespace Hbone.Relay;

/// <summary>
/// Moves bytes both ways between two endpoints until both directions half-closed, keeping half-close
/// (FIN ↔ END_STREAM). The first failure decides for both directions: a TCP reset becomes RST_STREAM
/// CONNECT_ERROR on a tunnel, a tunnel reset or an abort becomes a TCP RST on a socket.
/// Byte counters can be read while the relay runs.
/// </summary>
public sealed partial class TunnelRelay
{
    // Large reads keep syscalls few on bulk transfers; buffers are only taken once data is ready. Four
    // record-aligned DATA payloads: a full read leaves as exactly 64 KiB of frames, no short frame behind.
    private const int ReadSize = 4 * Http2.FrameHeader.RecordAlignedDataPayload;

    private readonly RelayEndpoint _a;
    private readonly RelayEndpoint _b;
    private long _bytesAToB;
    private long _bytesBToA;
    private int _started;

    /// <summary>Creates a relay between <paramref name="a"/> and <paramref name="b"/>; nothing moves until <see cref="RunAsync"/>.</summary>
    public TunnelRelay(RelayEndpoint a, RelayEndpoint b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        _a = a;
        _b = b;
    }

    /// <summary>Bytes read from A and accepted by B so far; readable while the relay runs.</summary>
    public long BytesAToB => Interlocked.Read(ref _bytesAToB);

    /// <summary>Bytes read from B and accepted by A so far; readable while the relay runs.</summary>
    public long BytesBToA => Interlocked.Read(ref _bytesBToA);

    /// <summary>
    /// Relays until both directions ended. Returns <see cref="TunnelOutcome.Completed"/> after a half-close each way,
    /// otherwise the first failure: <see cref="TunnelOutcome.UpstreamReset"/> (a socket was reset),
    /// <see cref="TunnelOutcome.PeerReset"/> (a tunnel was reset) or <see cref="TunnelOutcome.Aborted"/> (cancelled).
    /// Both endpoints are torn down on failure; on success they are left for the caller to dispose.
    /// </summary>
    public async Task<TunnelOutcome> RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("A relay runs once.");
        }

        using var cts = Link(cancellationToken, _a.PeerAborted, _b.PeerAborted);
        var aToB = CopyAsync(_a, _b, aToB: true, cts.Token);
        var bToA = CopyAsync(_b, _a, aToB: false, cts.Token);
        var first = await Task.WhenAny(aToB, bToA).ConfigureAwait(false);
        var other = first == aToB ? bToA : aToB;
        var outcome = await first.ConfigureAwait(false);
        if (outcome != TunnelOutcome.Completed)
        {
            // The first failure decides for both directions.
            Fail(outcome);
            await cts.CancelAsync().ConfigureAwait(false);
            await other.ConfigureAwait(false);
            return outcome;
        }

        var second = await other.ConfigureAwait(false);
        if (second != TunnelOutcome.Completed)
        {
            Fail(second);
        }

        return second;
    }

    /// <summary>Closes <paramref name="socket"/> with a TCP RST (linger 0) instead of a FIN.</summary>
    public static void Reset(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed or broken: disposing below is all that is left.
        }

        socket.Dispose();
    }

    private static CancellationTokenSource Link(CancellationToken token, CancellationToken a, CancellationToken b) =>
        (a.CanBeCanceled, b.CanBeCanceled) switch
        {
            (true, true) => CancellationTokenSource.CreateLinkedTokenSource(token, a, b),
            (true, false) => CancellationTokenSource.CreateLinkedTokenSource(token, a),
            (false, true) => CancellationTokenSource.CreateLinkedTokenSource(token, b),
            _ => CancellationTokenSource.CreateLinkedTokenSource(token),
        };

    private void Fail(TunnelOutcome outcome)
    {
        // Tunnels first, so a stream reset goes out before the socket's RST tears anything down.
        var (first, second) = _a.IsSocket ? (_b, _a) : (_a, _b);
        first.Fail(outcome);
        second.Fail(outcome);
    }

    private TunnelOutcome Outcome(RelayEndpoint endpoint, Exception exception) =>
        endpoint.Classify(exception) ?? (_a.PeerAborted.IsCancellationRequested || _b.PeerAborted.IsCancellationRequested
            ? TunnelOutcome.PeerReset
            : TunnelOutcome.Aborted);

    private void Count(bool aToB, long count) => Interlocked.Add(ref aToB ? ref _bytesAToB : ref _bytesBToA, count);
}
