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

    // _decision: Running, EndedCleanly, or 1 + the failure outcome that decided for both directions.
    private const int Running = 0;
    private const int EndedCleanly = -1;

    private readonly RelayEndpoint _a;
    private readonly RelayEndpoint _b;
    private long _bytesAToB;
    private long _bytesBToA;
    private int _started;
    private int _decision;
    private int _cleanEnds;

    // Only sends (short waits) take this token; an idle tunnel waits in two reads that take none (see RunAsync).
    private readonly CancellationTokenSource _sends = new();

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

        // An idle tunnel waits in two reads, which take no token: a failure wakes them by tearing the endpoints
        // down instead, so an idle relay holds no registration but the one per signal below.
        var caller = cancellationToken.UnsafeRegister(static state => ((TunnelRelay)state!).Decide(TunnelOutcome.Aborted), this);
        var peerA = _a.PeerAborted.UnsafeRegister(static state => ((TunnelRelay)state!).Decide(TunnelOutcome.PeerReset), this);
        var peerB = _b.PeerAborted.UnsafeRegister(static state => ((TunnelRelay)state!).Decide(TunnelOutcome.PeerReset), this);
        try
        {
            // Each direction decides for both as it fails, so neither needs the other's task: awaited in turn.
            var aToB = CopyAsync(aToB: true);
            var bToA = CopyAsync(aToB: false);
            await aToB.ConfigureAwait(false);
            await bToA.ConfigureAwait(false);
        }
        finally
        {
            // Disposing waits for a callback already running, so none touches the source after this.
            caller.Dispose();
            peerA.Dispose();
            peerB.Dispose();
            _sends.Dispose();
        }

        var decision = Volatile.Read(ref _decision);
        return decision > 0 ? (TunnelOutcome)(decision - 1) : TunnelOutcome.Completed;
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

    /// <summary>A direction ended: a failure decides for both, two clean ends close the relay to late signals.</summary>
    private TunnelOutcome Finish(TunnelOutcome outcome)
    {
        if (outcome != TunnelOutcome.Completed)
        {
            Decide(outcome);
        }
        else if (Interlocked.Increment(ref _cleanEnds) == 2)
        {
            // A reset signalled after both half-closes (say, the connection closing) must not tear down a finished tunnel.
            Interlocked.CompareExchange(ref _decision, EndedCleanly, Running);
        }

        return outcome;
    }

    /// <summary>The first failure decides for both directions: tears both endpoints down and wakes what waits on them.</summary>
    private void Decide(TunnelOutcome outcome)
    {
        if (Interlocked.CompareExchange(ref _decision, 1 + (int)outcome, Running) != Running)
        {
            return;
        }

        // Tunnels first, so a stream reset goes out before the socket's RST tears anything down.
        var (first, second) = _a.IsSocket ? (_b, _a) : (_a, _b);
        first.Fail(outcome);
        second.Fail(outcome);

        // A socket's waits end as it closes; pipe reads and flushes are woken here, sends through their token.
        Wake(_a);
        Wake(_b);
        _sends.Cancel();
    }

    private static void Wake(RelayEndpoint endpoint)
    {
        endpoint.Reader?.CancelPendingRead();
        endpoint.Writer?.CancelPendingFlush();
    }

    private TunnelOutcome Outcome(RelayEndpoint endpoint, Exception exception) =>
        endpoint.Classify(exception) ?? (_a.PeerAborted.IsCancellationRequested || _b.PeerAborted.IsCancellationRequested
            ? TunnelOutcome.PeerReset
            : TunnelOutcome.Aborted);

    private void Count(bool aToB, long count) => Interlocked.Add(ref aToB ? ref _bytesAToB : ref _bytesBToA, count);
}
