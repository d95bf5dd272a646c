using System.Net;
using System.Threading.Channels;
using Hbone.Ztunnel.Cni.Agent;
using Hbone.Ztunnel.Cni.Netns;
using Hbone.Ztunnel.Cni.Rules;
using k8s.Models;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>
/// The node's pods from the Kubernetes API server, enrolled by istio-cni's rules: list+watch of the node's pods and of
/// all namespaces, and one reconcile loop that enrolls (namespace found under /proc, pinned, in-pod rules applied) or
/// un-enrolls each pod as its labels, its namespace's labels and its phase say.
/// </summary>
internal sealed class KubernetesPodSource : IPodSource
{
    private const string DnsCaptureAnnotation = "ambient.istio.io/dns-capture";

    private readonly k8s.Kubernetes _client;
    private readonly KubernetesAgentOptions _options;
    private readonly AgentLog _log;
    private readonly PodNetnsFinder _finder;
    private readonly NetnsPins _pins;
    private readonly RedirectionAnnotation _annotation;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly NodePodCache _cache;

    // Owned by the reconcile loop alone; _current is its published view.
    private readonly Dictionary<string, PodRecord> _enrolled = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reportedWaiting = new(StringComparer.Ordinal);
    private volatile PodRecord[] _current = [];
    private Action _changed = static () => { };
    private Task _running = Task.CompletedTask;

    /// <param name="client">The API client; the source owns it and disposes it.</param>
    public KubernetesPodSource(k8s.Kubernetes client, KubernetesAgentOptions options, AgentLog log)
    {
        _client = client;
        _options = options;
        _log = log;
        _finder = new PodNetnsFinder(options.HostProc);
        _pins = new NetnsPins(options.NetnsDirectory);
        _annotation = new RedirectionAnnotation(client, log);
        _cache = new NodePodCache(Wake);
    }

    public string Description => $"the Kubernetes API at {_client.BaseUri} (node {_options.NodeName})";

    public Task Synced => _synced.Task;

    public IReadOnlyCollection<PodRecord> Current() => _current;

    public void Start(Action changed)
    {
        _changed = changed;
        var pods = new ResourceWatch<V1Pod, V1PodList>(_client, "api/v1/pods", $"spec.nodeName={_options.NodeName}", _options, _log, _cache.ReplacePods, _cache.ApplyPod);
        var namespaces = new ResourceWatch<V1Namespace, V1NamespaceList>(_client, "api/v1/namespaces", null, _options, _log, _cache.ReplaceNamespaces, _cache.ApplyNamespace);
        _running = Task.WhenAll(
            Task.Run(() => pods.RunAsync(_stop.Token)),
            Task.Run(() => namespaces.RunAsync(_stop.Token)),
            Task.Run(() => ReconcileLoopAsync(_stop.Token)));
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private async Task ReconcileLoopAsync(CancellationToken cancellationToken)
    {
        var retry = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                // Pods waiting for their namespace (or whose rules failed) are tried again without an event.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                if (retry)
                {
                    wait.CancelAfter(_options.RetryInterval);
                }

                try
                {
                    await _wake.Reader.ReadAsync(wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }

                retry = await ReconcileAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // The loop must outlive any one failure (an unreadable /proc entry, a bug): pods would silently stop being followed.
                _log.Error($"kubernetes: reconcile failed: {(ex is IOException or UnauthorizedAccessException or InterceptionException ? ex.Message : ex.ToString())}; retrying in {_options.RetryInterval.TotalSeconds:0.###} s");
                retry = true;
            }
        }
    }

    /// <summary>One pass over the cached pods; true when some pod must be tried again later.</summary>
    private async Task<bool> ReconcileAsync(CancellationToken cancellationToken)
    {
        if (_cache.Snapshot() is not { } snapshot)
        {
            return false;
        }

        var (pods, namespaceLabels) = snapshot;

        var retry = false;
        var gone = new List<string>();
        var leaving = new List<V1Pod>();
        var wanted = new Dictionary<string, (V1Pod Pod, IReadOnlyList<IPAddress> Ips)>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pod in pods)
        {
            var uid = pod.Metadata.Uid;
            seen.Add(uid);
            var verdict = AmbientEligibility.Decide(pod, namespaceLabels.GetValueOrDefault(pod.Metadata.NamespaceProperty ?? string.Empty), _options);
            var enrolled = _enrolled.ContainsKey(uid);
            switch (verdict)
            {
                case PodVerdict.Enroll when !enrolled:
                    wanted[uid] = (pod, AmbientEligibility.PodIps(pod));
                    break;
                case PodVerdict.NotEligible when enrolled:
                    // Still running, no longer in the mesh: its traffic must flow directly again, so the rules go first.
                    if (await TryRemoveRulesAsync(pod, cancellationToken).ConfigureAwait(false))
                    {
                        gone.Add(uid);
                        leaving.Add(pod);
                    }
                    else
                    {
                        retry = true;
                    }

                    break;
                case PodVerdict.Terminal when enrolled:
                    gone.Add(uid);
                    break;
            }
        }

        // Deleted (or missing after a relist): its namespace is going away with it, so only the ztunnel is told, as istio-cni on delete.
        gone.AddRange(_enrolled.Keys.Where(uid => !seen.Contains(uid)));

        _reportedWaiting.IntersectWith(wanted.Keys);
        var (added, missing) = wanted.Count > 0 ? await EnrollAsync(wanted, cancellationToken).ConfigureAwait(false) : ([], false);
        retry |= missing;
        foreach (var uid in gone)
        {
            var record = _enrolled[uid];
            _enrolled.Remove(uid);
            _log.Info($"kubernetes: {record.Namespace}/{record.Name} uid={uid} leaves the mesh");
        }

        if (gone.Count > 0 || added.Count > 0)
        {
            // The agent sends the ZDS adds and deletes from within this call; only then may the pins of gone pods go.
            _current = [.. _enrolled.Values];
            _changed();
        }

        foreach (var uid in gone)
        {
            TryUnpin(uid);
        }

        // istio-cni's record on the pod, once the ztunnel has been told (a deleted or finished pod is not annotated).
        foreach (var pod in added)
        {
            await _annotation.SetAsync(pod, "enabled", cancellationToken).ConfigureAwait(false);
        }

        foreach (var pod in leaving)
        {
            await _annotation.SetAsync(pod, null, cancellationToken).ConfigureAwait(false);
        }

        _synced.TrySetResult();
        return retry;
    }

    /// <summary>Finds, pins and applies the rules of the wanted pods; returns those enrolled and whether some must wait.</summary>
    private async Task<(List<V1Pod> Enrolled, bool Missing)> EnrollAsync(Dictionary<string, (V1Pod Pod, IReadOnlyList<IPAddress> Ips)> wanted, CancellationToken cancellationToken)
    {
        var found = await _finder.FindAsync(wanted.ToDictionary(pair => pair.Key, pair => pair.Value.Ips, StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
        var enrolled = new List<V1Pod>();
        var missing = false;
        try
        {
            foreach (var (uid, (pod, _)) in wanted)
            {
                var name = $"{pod.Metadata.NamespaceProperty}/{pod.Metadata.Name}";
                if (!found.TryGetValue(uid, out var handle))
                {
                    if (_reportedWaiting.Add(uid))
                    {
                        _log.Info($"kubernetes: {name} uid={uid}: no process of the pod with its IP under {_options.HostProc} yet; trying again");
                    }

                    missing = true;
                    continue;
                }

                string path;
                try
                {
                    path = _pins.Pin(uid, handle);
                    await Interception(pod).ApplyAsync(path, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or InterceptionException)
                {
                    _log.Error($"kubernetes: cannot enroll {name} uid={uid}: {ex.Message}; trying again");
                    TryUnpin(uid);
                    missing = true;
                    continue;
                }

                _reportedWaiting.Remove(uid);
                _enrolled[uid] = new PodRecord(uid, pod.Metadata.Name, pod.Metadata.NamespaceProperty ?? "default", pod.Spec?.ServiceAccountName ?? "default", path);
                _log.Info($"kubernetes: {name} uid={uid} enrolled: rules applied in {path}");
                enrolled.Add(pod);
            }
        }
        finally
        {
            foreach (var handle in found.Values)
            {
                handle.Dispose();
            }
        }

        return (enrolled, missing);
    }

    private async Task<bool> TryRemoveRulesAsync(V1Pod pod, CancellationToken cancellationToken)
    {
        var uid = pod.Metadata.Uid;
        try
        {
            await Interception(pod).RemoveAsync(_enrolled[uid].Netns, cancellationToken).ConfigureAwait(false);
            _log.Info($"kubernetes: {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name} uid={uid} no longer in the mesh: rules removed");
            return true;
        }
        catch (InterceptionException ex)
        {
            _log.Error($"kubernetes: cannot remove the rules of {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name} uid={uid}: {ex.Message}; trying again");
            return false;
        }
    }

    /// <summary>Drops the pod's pin; a failure is logged (a stale mount costs a namespace kept alive, not a wrong pod).</summary>
    private void TryUnpin(string uid)
    {
        try
        {
            _pins.Unpin(uid);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Error($"kubernetes: {ex.Message}");
        }
    }

    /// <summary>The rules for this pod: the node's DNS capture unless its <c>ambient.istio.io/dns-capture</c> annotation says otherwise.</summary>
    private InPodInterception Interception(V1Pod pod)
    {
        var captureDns = pod.Metadata.Annotations?.TryGetValue(DnsCaptureAnnotation, out var value) == true && bool.TryParse(value, out var annotated)
            ? annotated
            : _options.CaptureDns;
        return new InPodInterception(new InterceptionOptions { CaptureDns = captureDns });
    }

    /// <summary>Stops watching; the pins go (the ztunnel holds its own fds), the rules stay (pods stay captured while the agent is away).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _running.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var uid in _enrolled.Keys)
        {
            TryUnpin(uid);
        }

        _synced.TrySetCanceled();
        _stop.Dispose();
        _client.Dispose();
    }
}
