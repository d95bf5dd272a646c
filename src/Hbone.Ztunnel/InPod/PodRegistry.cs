using System.Collections.Concurrent;
using System.Net;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Zds;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.InPod;

/// <summary>
/// The pods the node agent handed over (ZDS): starts a <see cref="PodProxy"/> per added pod, drains it on delete,
/// and keeps pods across an agent restart when the new snapshot still lists them.
/// </summary>
internal sealed partial class PodRegistry(ILogger<PodRegistry> logger) : IZdsWorkloadHandler, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, PodProxy> _pods = new();
    private readonly ConcurrentDictionary<(string Namespace, string Name), PodProxy> _podsByName = new();
    private readonly List<Task> _draining = [];
    private ProxyContext? _context;

    /// <summary>Set once at start: the pods' shared context.</summary>
    public void Attach(ProxyContext context) => _context = context;

    public IReadOnlyList<PodProxy> Pods => [.. _pods.Values];

    /// <summary>
    /// The enrolled pod whose workload has <paramref name="address"/> on this node's network: the config's address index,
    /// then the pod by the workload's uid or, with istiod's uids, by its namespace and name (checked as the pod matches it).
    /// </summary>
    public PodProxy? FindByAddress(IPAddress address)
    {
        var store = _context!.Store;
        var snapshot = store.Current;
        if (snapshot.FindWorkload(store.Network, address) is not { } workload)
        {
            return null;
        }

        var pod = _pods.GetValueOrDefault(workload.Uid) ?? _podsByName.GetValueOrDefault((workload.Namespace, workload.Name));
        return pod is not null && ReferenceEquals(pod.FindWorkload(snapshot), workload) ? pod : null;
    }

    public string? OnAdd(string uid, WorkloadInfo info, SafeFileHandle netns)
    {
        if (_pods.ContainsKey(uid))
        {
            // Re-sent after an agent restart: the pod's proxy is already running.
            netns.Dispose();
            Log.Kept(logger, uid);
            return null;
        }

        PodProxy pod;
        try
        {
            pod = new PodProxy(uid, info, netns, _context!);
            pod.Start();
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            netns.Dispose();
            Log.AddFailed(logger, uid, ex.Message);
            return $"cannot set up the proxy of {uid}: {ex.Message}";
        }

        _pods[uid] = pod;
        _podsByName[(info.Namespace, info.Name)] = pod;
        Log.Added(logger, uid, info.Namespace, info.Name);
        return null;
    }

    public void OnKeep(string uid) => Log.Kept(logger, uid);

    public void OnDelete(string uid)
    {
        if (_pods.TryRemove(uid, out var pod))
        {
            _podsByName.TryRemove(new KeyValuePair<(string, string), PodProxy>((pod.Info.Namespace, pod.Info.Name), pod));
            Log.Removed(logger, uid);
            Drain(pod);
        }
    }

    public void OnSnapshotComplete(IReadOnlySet<string> present)
    {
        foreach (var uid in _pods.Keys)
        {
            if (!present.Contains(uid))
            {
                OnDelete(uid);
            }
        }
    }

    /// <summary>Closes, in every pod, the live connections the current config no longer allows.</summary>
    public int RecheckAll()
    {
        var snapshot = _context!.Store.Current;
        var closed = 0;
        foreach (var pod in _pods.Values)
        {
            closed += pod.Recheck(snapshot);
        }

        return closed;
    }

    /// <summary>Drains every pod within the deadline (shutdown).</summary>
    public async Task DrainAllAsync(TimeSpan deadline)
    {
        foreach (var uid in _pods.Keys)
        {
            if (_pods.TryRemove(uid, out var pod))
            {
                _podsByName.TryRemove(new KeyValuePair<(string, string), PodProxy>((pod.Info.Namespace, pod.Info.Name), pod));
                Drain(pod, deadline);
            }
        }

        Task[] pending;
        lock (_draining)
        {
            pending = [.. _draining];
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await DrainAllAsync(TimeSpan.Zero).ConfigureAwait(false);

    private void Drain(PodProxy pod, TimeSpan? deadline = null)
    {
        async Task DrainAsync()
        {
            await pod.DrainAsync(deadline ?? _context!.Config.DrainDeadline).ConfigureAwait(false);
            await pod.DisposeAsync().ConfigureAwait(false);
        }

        lock (_draining)
        {
            _draining.RemoveAll(static t => t.IsCompleted);
            _draining.Add(DrainAsync());
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "pod added: {Uid} ({Namespace}/{Name}), listeners up")]
        public static partial void Added(ILogger logger, string uid, string @namespace, string name);

        [LoggerMessage(2, LogLevel.Information, "pod kept: {Uid}")]
        public static partial void Kept(ILogger logger, string uid);

        [LoggerMessage(3, LogLevel.Information, "pod removed: {Uid}, draining")]
        public static partial void Removed(ILogger logger, string uid);

        [LoggerMessage(4, LogLevel.Warning, "pod {Uid} could not be set up: {Error}")]
        public static partial void AddFailed(ILogger logger, string uid, string error);
    }
}
