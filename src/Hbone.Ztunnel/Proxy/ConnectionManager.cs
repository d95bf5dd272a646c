using System.Collections.Concurrent;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Hbone.Ztunnel.Proxy;

/// <summary>
/// The live connections of one pod, kept in one place (as ztunnel's connection manager): a policy re-check or a drain
/// acts on them here, so the inbound and outbound paths never call each other.
/// </summary>
internal sealed class ConnectionManager
{
    private readonly ConcurrentDictionary<LiveConnection, byte> _connections = new();
    private readonly ConcurrentDictionary<ConnectionContext, byte> _hboneConnections = new();
    private TaskCompletionSource _untracked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _draining;

    public int Count => _connections.Count;

    /// <summary>Tracks a connection; one that starts while the pod drains is aborted at once.</summary>
    /// <param name="attributes">What inbound authorization saw, for re-checks; null for outbound connections.</param>
    /// <param name="onAbort">Extra work to close the connection (e.g. resetting its HTTP/2 stream).</param>
    public LiveConnection Track(ConnectionAttributes? attributes, Action? onAbort = null)
    {
        var connection = new LiveConnection(attributes, onAbort);
        _connections.TryAdd(connection, 0);
        if (_draining)
        {
            connection.Abort("the pod is draining", ResponseFlags.Connect);
        }

        return connection;
    }

    public void Untrack(LiveConnection connection)
    {
        connection.Complete();
        _connections.TryRemove(connection, out _);
        Interlocked.Exchange(ref _untracked, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Remembers an inbound HBONE connection (many tunnels), so a drain can send it GOAWAY and close it.</summary>
    public void AdoptHbone(ConnectionContext connection)
    {
        _hboneConnections.TryAdd(connection, 0);
        connection.ConnectionClosed.Register(() => _hboneConnections.TryRemove(connection, out _));
    }

    /// <summary>
    /// Closes the re-checkable (inbound) connections that <paramref name="policy"/> no longer allows (late rejection),
    /// or all of them when the pod's workload is gone (<paramref name="policy"/> null); returns how many.
    /// </summary>
    public int Recheck(PolicyEngine? policy)
    {
        var live = new Dictionary<ConnectionAttributes, LiveConnection>(ReferenceEqualityComparer.Instance);
        foreach (var connection in _connections.Keys)
        {
            if (connection.Attributes is { } attributes)
            {
                live[attributes] = connection;
            }
        }

        if (policy is null)
        {
            foreach (var connection in live.Values)
            {
                connection.Abort("the destination workload was removed", ResponseFlags.Deny);
            }

            return live.Count;
        }

        var denied = policy.Recheck(live.Keys);
        foreach (var attributes in denied)
        {
            live[attributes].Abort($"denied after a policy change: {policy.Authorize(attributes).Reason}", ResponseFlags.Deny);
        }

        return denied.Count;
    }

    /// <summary>From now on new connections are aborted; asks every inbound HBONE connection to GOAWAY. Returns how many were asked.</summary>
    public int StartDraining()
    {
        _draining = true;
        var goAways = 0;
        foreach (var hbone in _hboneConnections.Keys)
        {
            if (hbone.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
            {
                lifetime.RequestClose();
                goAways++;
            }
        }

        return goAways;
    }

    /// <summary>Completes when no connection is tracked, or when <paramref name="cancellationToken"/> fires.</summary>
    public async Task WaitUntilEmptyAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var untracked = Volatile.Read(ref _untracked).Task;
            if (_connections.IsEmpty)
            {
                return;
            }

            await untracked.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Aborts every tracked connection (the drain deadline passed): ztunnel counts these as CONNECT failures.</summary>
    public void AbortAll(string reason)
    {
        foreach (var connection in _connections.Keys)
        {
            connection.Abort(reason, ResponseFlags.Connect);
        }
    }

    /// <summary>Closes every inbound HBONE connection now.</summary>
    public void AbortHbone(string reason)
    {
        foreach (var hbone in _hboneConnections.Keys)
        {
            hbone.Abort(new ConnectionAbortedException(reason));
        }
    }
}
