using System.Collections.Concurrent;

namespace Hbone.Client;

/// <summary>
/// HBONE connections by <see cref="HbonePoolKey"/>: streams go to a connection with room; at the limit another
/// is dialed; dials are single-flight per key; idle, broken, GOAWAY'd, too-old or old-certificate connections
/// take no new streams and are closed once empty.
/// </summary>
internal sealed class HboneConnectionPool : IAsyncDisposable
{
    private readonly ConcurrentDictionary<HbonePoolKey, PoolEntry> _entries = new();
    private readonly HboneClientOptions _options;
    private readonly Action _onConnectionClosed;
    private readonly ITimer _sweeper;
    private readonly CancellationTokenSource _disposed = new();

    public HboneConnectionPool(HboneClientOptions options, Action onConnectionClosed)
    {
        _options = options;
        _onConnectionClosed = onConnectionClosed;
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, Math.Min(options.PooledConnectionIdleTimeout.Ticks / 2, TimeSpan.FromSeconds(30).Ticks)));
        _sweeper = options.TimeProvider.CreateTimer(static state => ((HboneConnectionPool)state!).Sweep(), this, period, period);
    }

    /// <summary>A connection with a stream reserved on it, dialing one when none has room.</summary>
    public async ValueTask<PooledConnection> AcquireAsync(HbonePoolKey key, Identity.Svid certificate, Func<CancellationToken, Task<PooledConnection>> dial, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            var entry = _entries.GetOrAdd(key, static _ => new PoolEntry());
            Task<PooledConnection> dialing;
            lock (entry)
            {
                if (entry.Removed)
                {
                    continue;
                }

                entry.CurrentCertificate = certificate;

                foreach (var pooled in entry.Connections)
                {
                    if (AcceptsNewStreams(pooled, certificate) && pooled.Connection.TryReserveStream())
                    {
                        return pooled;
                    }
                }

                dialing = entry.Dial ??= StartDial(key, entry, dial);
            }

            // Every waiter of a single-flight dial shares its outcome, then checks again for room.
            var dialed = await dialing.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (dialed.Connection.MaxStreams == 0)
            {
                // Another dial would meet the same answer: fail rather than dial without end.
                throw new HboneException(HboneErrorReason.ConnectionFailed, $"{key.Destination} allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS = 0).");
            }
        }
    }

    /// <summary>Open connections for a key (tests and diagnostics).</summary>
    public int CountConnections(HbonePoolKey key)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return 0;
        }

        lock (entry)
        {
            return entry.Connections.Count;
        }
    }

    /// <summary>Keys with an entry in the pool (tests and diagnostics).</summary>
    public int KeyCount => _entries.Count;

    private bool AcceptsNewStreams(PooledConnection pooled, Identity.Svid certificate) =>
        ReferenceEquals(pooled.Certificate, certificate)
        && _options.TimeProvider.GetElapsedTime(pooled.CreatedTimestamp) < _options.PooledConnectionLifetime;

    private Task<PooledConnection> StartDial(HbonePoolKey key, PoolEntry entry, Func<CancellationToken, Task<PooledConnection>> dial) => Task.Run(async () =>
    {
        try
        {
            var pooled = await dial(_disposed.Token).ConfigureAwait(false);
            lock (entry)
            {
                entry.Connections.Add(pooled);
                entry.Dial = null;
            }

            _ = pooled.Connection.Closed.ContinueWith(
                static (_, state) =>
                {
                    var (pool, entry, pooled) = ((HboneConnectionPool, PoolEntry, PooledConnection))state!;
                    lock (entry)
                    {
                        entry.Connections.Remove(pooled);
                    }

                    pool._onConnectionClosed();
                },
                (this, entry, pooled),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return pooled;
        }
        catch
        {
            lock (entry)
            {
                entry.Dial = null;
            }

            throw;
        }
    });

    /// <summary>Closes connections that are idle too long, or that take no new streams and have none left.</summary>
    private void Sweep()
    {
        List<PooledConnection>? toClose = null;
        foreach (var (key, entry) in _entries)
        {
            lock (entry)
            {
                if (entry.Connections.Count == 0 && entry.Dial is null)
                {
                    // Nothing left for this key (a destination that went away): drop the entry, or keys pile up for
                    // good. A request holding it sees Removed and takes a fresh one.
                    entry.Removed = true;
                    _entries.TryRemove(new KeyValuePair<HbonePoolKey, PoolEntry>(key, entry));
                    continue;
                }

                for (var i = entry.Connections.Count - 1; i >= 0; i--)
                {
                    var pooled = entry.Connections[i];
                    var connection = pooled.Connection;
                    var idle = connection.IdleTime;
                    var retired = !connection.IsUsable
                        || _options.TimeProvider.GetElapsedTime(pooled.CreatedTimestamp) >= _options.PooledConnectionLifetime
                        || !ReferenceEquals(pooled.Certificate, entry.CurrentCertificate);
                    if (idle >= _options.PooledConnectionIdleTimeout || (retired && connection.ActiveStreams == 0))
                    {
                        // Out of the list under the lock: streams are only reserved under it, so none can land
                        // on a connection between this decision and its close.
                        entry.Connections.RemoveAt(i);
                        (toClose ??= []).Add(pooled);
                    }
                }
            }
        }

        if (toClose is not null)
        {
            foreach (var pooled in toClose)
            {
                _ = pooled.Connection.DisposeAsync().AsTask();
            }
        }
    }

    /// <summary>Takes the keys <paramref name="match"/> selects out of the pool and returns their connections; no stream lands on them any more.</summary>
    public List<PooledConnection> Retire(Func<HbonePoolKey, bool> match)
    {
        var retired = new List<PooledConnection>();
        foreach (var (key, entry) in _entries)
        {
            if (!match(key))
            {
                continue;
            }

            lock (entry)
            {
                // A request holding the entry sees Removed and takes a fresh one.
                entry.Removed = true;
                retired.AddRange(entry.Connections);
                entry.Connections.Clear();
            }

            _entries.TryRemove(new KeyValuePair<HbonePoolKey, PoolEntry>(key, entry));
        }

        return retired;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        var all = new List<PooledConnection>();
        foreach (var (_, entry) in _entries)
        {
            lock (entry)
            {
                entry.Removed = true;
                all.AddRange(entry.Connections);
            }
        }

        foreach (var pooled in all)
        {
            await pooled.Connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class PoolEntry
    {
        public List<PooledConnection> Connections { get; } = [];

        public Task<PooledConnection>? Dial { get; set; }

        public bool Removed { get; set; }

        /// <summary>The source certificate of the latest request: connections made with an older one retire.</summary>
        public Identity.Svid? CurrentCertificate { get; set; }
    }
}
