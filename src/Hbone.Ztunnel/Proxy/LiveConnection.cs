using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy;

/// <summary>A connection in flight through a pod's proxy, so a policy change or a drain can close it.</summary>
internal sealed class LiveConnection
{
    private readonly CancellationTokenSource _aborted = new();
    private readonly Lock _gate = new();
    private Action? _onAbort;

    /// <param name="attributes">What inbound authorization saw; null for outbound connections, which are not re-checked.</param>
    /// <param name="onAbort">Extra work to close the connection (e.g. aborting the HTTP/2 stream).</param>
    public LiveConnection(ConnectionAttributes? attributes, Action? onAbort = null)
    {
        Attributes = attributes;
        _onAbort = onAbort;
    }

    public ConnectionAttributes? Attributes { get; }

    /// <summary>Cancelled when the connection must close now.</summary>
    public CancellationToken Aborted => _aborted.Token;

    private string? _abortReason;
    private string? _abortFlags;

    /// <summary>Why it was closed by the proxy, when it was.</summary>
    public string? AbortReason => Volatile.Read(ref _abortReason);

    /// <summary>The <c>response_flags</c> of that close (<see cref="Telemetry.ResponseFlags"/>), when the proxy closed it.</summary>
    public string? AbortFlags => Volatile.Read(ref _abortFlags);

    /// <summary>Closes the connection now; the first call wins.</summary>
    /// <param name="reason">Why, for the access log.</param>
    /// <param name="responseFlags">Why, for the metrics: <c>DENY</c> for a policy re-check, <c>CONNECT</c> for a drain.</param>
    public void Abort(string reason, string responseFlags)
    {
        if (Interlocked.CompareExchange(ref _abortReason, reason, null) is not null)
        {
            return;
        }

        Volatile.Write(ref _abortFlags, responseFlags);
        _aborted.Cancel();
        lock (_gate)
        {
            try
            {
                _onAbort?.Invoke();
            }
            catch (ObjectDisposedException)
            {
                // Already torn down: closed either way.
            }
        }
    }

    /// <summary>The connection ended: a later <see cref="Abort"/> must not touch what it used (Kestrel reuses request objects).</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _onAbort = null;
        }
    }
}
