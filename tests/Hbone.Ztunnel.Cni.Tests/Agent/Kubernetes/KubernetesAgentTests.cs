using Hbone.Ztunnel.Cni.Agent;
using Hbone.Ztunnel.Cni.Kubernetes;
using Hbone.Ztunnel.Cni.Tests.Zds;
using Hbone.Ztunnel.Zds;
using k8s.Models;

namespace Hbone.Ztunnel.Cni.Tests.Agent.Kubernetes;

/// <summary>
/// The node agent with pods from the Kubernetes API: the real agent against a fake API server, real network namespaces
/// whose process sits in the pod's cgroup, real in-pod rules, and a real ZdsClient as the ztunnel.
/// Case ids (this repository keeps no catalogue copy; the ids continue CNI-AGENT-01..09):
/// CNI-AGENT-10 enroll from the API, CNI-AGENT-11 DELETED, CNI-AGENT-12 410 and relist, CNI-AGENT-13 not eligible,
/// CNI-AGENT-14 label removed, CNI-AGENT-15 re-watch from the last version, CNI-AGENT-16 CLI contract,
/// CNI-AGENT-17 eligibility rule, CNI-AGENT-18 cgroup parser.
/// </summary>
public sealed class KubernetesAgentTests : IAsyncLifetime
{
    private const string Node = "node-a";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-k8s-agent-").FullName;
    private readonly StringWriter _output = new();
    private readonly StringWriter _error = new();
    private readonly List<IDisposable> _sandboxes = [];
    private FakeKubernetesApi _api = null!;
    private NodeAgent? _agent;
    private ZdsClient? _ztunnel;

    private string SocketPath => Path.Combine(_directory, "run", "ztunnel.sock");

    private string NetnsDirectory => Path.Combine(_directory, "netns");

    private RecordingHandler Handler { get; } = new();

    public async Task InitializeAsync()
    {
        _api = await FakeKubernetesApi.StartAsync();
        _api.Apply(FakeKubernetesApi.Namespace("default"));
        _api.Apply(FakeKubernetesApi.Namespace("mesh", "ambient"));
        _api.Apply(FakeKubernetesApi.Namespace("kube-system", "ambient"));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-10")]
    public async Task CNI_AGENT_10_an_ambient_pod_reported_by_the_API_gets_its_rules_and_reaches_the_ztunnel()
    {
        var sandbox = Sandbox("10.244.10.5");
        _api.Apply(Pod(sandbox, "client", "mesh"));

        await StartAsync();

        await WaitForAsync(() => Handler.Infos.ContainsKey(sandbox.Uid), "the pod at the ztunnel");
        var info = Handler.Infos[sandbox.Uid];
        Assert.Equal(("client", "mesh", "sa-client"), (info.Name, info.Namespace, info.ServiceAccount));
        Assert.Contains("ISTIO_OUTPUT", sandbox.IptablesSave(), StringComparison.Ordinal);
        await _ztunnel!.Ready.WaitAsync(Deadline);
        Assert.Equal([sandbox.Uid], Handler.Present);
        Assert.Contains(_api.Requests, r => r.StartsWith("GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a", StringComparison.Ordinal) && !r.Contains("watch=", StringComparison.Ordinal));
        Assert.Contains(_api.Requests, r => r.StartsWith("GET /api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%3Dnode-a&resourceVersion=", StringComparison.Ordinal) && r.EndsWith("&watch=true", StringComparison.Ordinal));
        Assert.Contains(_api.Requests, r => r.StartsWith("GET /api/v1/namespaces", StringComparison.Ordinal));
        await WaitForAsync(() => _api.AnnotationOf(sandbox.Uid, "ambient.istio.io/redirection") == "enabled", "the redirection annotation");
        Assert.Contains(_api.Requests, r => r.StartsWith("PATCH /api/v1/namespaces/mesh/pods/client/status application/merge-patch+json", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-10")]
    public async Task CNI_AGENT_10_a_pod_without_an_IP_waits_and_is_enrolled_once_it_has_one()
    {
        var waiting = Sandbox("10.244.10.6");
        var control = Sandbox("10.244.10.7");
        await StartAsync();
        await _ztunnel!.Ready.WaitAsync(Deadline);
        var pod = Pod(waiting, "waiting", "default", podMode: "ambient");
        pod.Status.PodIP = null;
        pod.Status.PodIPs = null;
        _api.Apply(pod);
        _api.Apply(Pod(control, "control", "default", podMode: "ambient"));

        // Both pods were judged in one pass once the control pod is in: the one without an IP is not.
        await WaitForAsync(() => Handler.Infos.ContainsKey(control.Uid), "the control pod at the ztunnel");
        Assert.False(Handler.Infos.ContainsKey(waiting.Uid));
        Assert.DoesNotContain("ISTIO", waiting.IptablesSave(), StringComparison.Ordinal);

        _api.Apply(Pod(waiting, "waiting", "default", podMode: "ambient"));

        await WaitForAsync(() => Handler.Infos.ContainsKey(waiting.Uid), "the pod at the ztunnel");
        Assert.Contains("ISTIO_OUTPUT", waiting.IptablesSave(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-11")]
    public async Task CNI_AGENT_11_a_DELETED_pod_leaves_the_ztunnel_and_its_pin_goes()
    {
        var sandbox = Sandbox("10.244.11.5");
        _api.Apply(Pod(sandbox, "gone", "mesh"));
        await StartAsync();
        await WaitForAsync(() => Handler.Infos.ContainsKey(sandbox.Uid), "the pod at the ztunnel");
        Assert.Single(Directory.GetFiles(NetnsDirectory));

        _api.DeletePod(sandbox.Uid);

        await WaitForAsync(() => Handler.Deleted.Contains(sandbox.Uid), "the delete at the ztunnel");
        Assert.Empty(_agent!.EnrolledUids);
        Assert.Empty(Directory.GetFiles(NetnsDirectory));
    }

    [Theory]
    [Trait("case", "CNI-AGENT-12")]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CNI_AGENT_12_after_a_410_the_agent_relists_and_converges(bool errorEvent)
    {
        var stays = Sandbox("10.244.12.5");
        var deleted = Sandbox("10.244.12.6");
        var added = Sandbox("10.244.12.7");
        _api.Apply(Pod(stays, "stays", "mesh"));
        _api.Apply(Pod(deleted, "deleted", "mesh"));
        await StartAsync();
        await WaitForAsync(() => Handler.Infos.ContainsKey(stays.Uid) && Handler.Infos.ContainsKey(deleted.Uid), "both pods at the ztunnel");
        var listsBefore = PodLists();

        // While the watch is cut off, one pod goes and one comes; then the versions expire: an ERROR 410 event in the open
        // watch, or a clean close and HTTP 410 for the re-watch from the last version.
        _api.PauseWatches();
        _api.DeletePod(deleted.Uid);
        _api.Apply(Pod(added, "added", "mesh"));
        _api.ExpireWatches(errorEvent);

        await WaitForAsync(() => Handler.Deleted.Contains(deleted.Uid) && Handler.Infos.ContainsKey(added.Uid), "the relisted state at the ztunnel");
        Assert.True(PodLists() > listsBefore, string.Join('\n', _api.Requests));
        Assert.Equal(new[] { added.Uid, stays.Uid }.Order(StringComparer.Ordinal), _agent!.EnrolledUids.Order(StringComparer.Ordinal));
        Assert.Contains("ISTIO_OUTPUT", added.IptablesSave(), StringComparison.Ordinal);
        Assert.DoesNotContain(stays.Uid, Handler.Deleted);
        Assert.Contains("api/v1/pods watch expired (410): relisting", Output, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-13")]
    public async Task CNI_AGENT_13_opted_out_excluded_host_network_and_sidecar_pods_are_not_enrolled()
    {
        var optedOut = Sandbox("10.244.13.5");
        var excluded = Sandbox("10.244.13.6");
        var hostNetwork = Sandbox("10.244.13.7");
        var sidecar = Sandbox("10.244.13.8");
        var control = Sandbox("10.244.13.9");
        _api.Apply(Pod(optedOut, "opted-out", "mesh", podMode: "none"));
        _api.Apply(Pod(excluded, "excluded", "kube-system", podMode: "ambient"));
        var host = Pod(hostNetwork, "host", "mesh");
        host.Spec.HostNetwork = true;
        _api.Apply(host);
        var injected = Pod(sidecar, "sidecar", "mesh");
        injected.Metadata.Annotations = new Dictionary<string, string> { ["sidecar.istio.io/status"] = "{}" };
        _api.Apply(injected);
        _api.Apply(Pod(control, "control", "mesh"));

        await StartAsync();

        // One reconcile pass decides every cached pod: once the control pod is in, the others were judged.
        await WaitForAsync(() => Handler.Infos.ContainsKey(control.Uid), "the control pod at the ztunnel");
        await _ztunnel!.Ready.WaitAsync(Deadline);
        Assert.Equal([control.Uid], Handler.Present);
        Assert.Equal([control.Uid], _agent!.EnrolledUids);
        foreach (var sandbox in new[] { optedOut, excluded, hostNetwork, sidecar })
        {
            Assert.DoesNotContain("ISTIO", sandbox.IptablesSave(), StringComparison.Ordinal);
        }
    }

    [Fact]
    [Trait("case", "CNI-AGENT-14")]
    public async Task CNI_AGENT_14_removing_the_ambient_label_unenrolls_the_pod_and_removes_its_rules()
    {
        var sandbox = Sandbox("10.244.14.5");
        _api.Apply(Pod(sandbox, "labelled", "default", podMode: "ambient"));
        await StartAsync();
        await WaitForAsync(() => Handler.Infos.ContainsKey(sandbox.Uid), "the pod at the ztunnel");
        Assert.Contains("ISTIO_OUTPUT", sandbox.IptablesSave(), StringComparison.Ordinal);
        await WaitForAsync(() => _api.AnnotationOf(sandbox.Uid, "ambient.istio.io/redirection") == "enabled", "the redirection annotation");

        // The update keeps what the agent annotated; only the label goes.
        var unlabelled = Pod(sandbox, "labelled", "default");
        unlabelled.Metadata.Annotations = new Dictionary<string, string> { ["ambient.istio.io/redirection"] = "enabled" };
        _api.Apply(unlabelled);

        await WaitForAsync(() => Handler.Deleted.Contains(sandbox.Uid), "the delete at the ztunnel");
        Assert.DoesNotContain("ISTIO", sandbox.IptablesSave(), StringComparison.Ordinal);
        Assert.Empty(_agent!.EnrolledUids);
        Assert.Contains($"uid={sandbox.Uid} no longer in the mesh: rules removed", Output, StringComparison.Ordinal);
        await WaitForAsync(() => _api.AnnotationOf(sandbox.Uid, "ambient.istio.io/redirection") is null, "the redirection annotation removed");
        Assert.Contains(_api.Requests, r => r.EndsWith("""{"metadata":{"annotations":{"ambient.istio.io/redirection":null}}}""", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-15")]
    public async Task CNI_AGENT_15_a_watch_closed_at_its_timeout_is_resumed_from_the_bookmark_version_without_a_relist()
    {
        var sandbox = Sandbox("10.244.15.5");
        await StartAsync(watchTimeoutSeconds: 1);
        await _ztunnel!.Ready.WaitAsync(Deadline);

        // The pod comes after the first watch closed: only the resumed watch can deliver it.
        await WaitForAsync(() => PodWatches().Count >= 2, "a second pod watch");
        _api.Apply(Pod(sandbox, "resumed", "mesh"));

        await WaitForAsync(() => Handler.Infos.ContainsKey(sandbox.Uid), "the pod at the ztunnel");
        Assert.Equal(1, PodLists());
        var versions = PodWatches().Select(r => r.Split("resourceVersion=")[1].Split('&')[0]).ToList();
        Assert.True(long.Parse(versions[1], System.Globalization.CultureInfo.InvariantCulture) >= long.Parse(versions[0], System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(PodWatches(), r => Assert.Contains("timeoutSeconds=1&", r, StringComparison.Ordinal));
    }

    public async Task DisposeAsync()
    {
        if (_ztunnel is not null)
        {
            await _ztunnel.DisposeAsync();
        }

        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        await _api.DisposeAsync();
        foreach (var sandbox in _sandboxes)
        {
            sandbox.Dispose();
        }

        _output.Dispose();
        _error.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task StartAsync(int watchTimeoutSeconds = 30)
    {
        var options = new KubernetesAgentOptions
        {
            NodeName = Node,
            NetnsDirectory = NetnsDirectory,
            RetryInterval = TimeSpan.FromMilliseconds(200),
            FirstBackoff = TimeSpan.FromMilliseconds(50),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
            WatchTimeoutSeconds = watchTimeoutSeconds,
        };
        var client = new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = _api.Address.ToString() });
        _agent = await NodeAgent.StartAsync(SocketPath, log => new KubernetesPodSource(client, options, log), _output, _error).WaitAsync(Deadline);
        _ztunnel = new ZdsClient(SocketPath, Handler);
    }

    private PodSandbox Sandbox(string ip)
    {
        var sandbox = new PodSandbox(ip);
        _sandboxes.Add(sandbox);
        return sandbox;
    }

    private static V1Pod Pod(PodSandbox sandbox, string name, string podNamespace, string? podMode = null) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = podNamespace,
            Uid = sandbox.Uid,
            Labels = podMode is null ? new Dictionary<string, string> { ["app"] = name } : new Dictionary<string, string> { ["app"] = name, ["istio.io/dataplane-mode"] = podMode },
        },
        Spec = new V1PodSpec { NodeName = Node, ServiceAccountName = $"sa-{name}", Containers = [new V1Container { Name = "app", Image = "app" }] },
        Status = new V1PodStatus { Phase = "Running", PodIP = sandbox.Ip, PodIPs = [new V1PodIP { Ip = sandbox.Ip }] },
    };

    private int PodLists() => _api.Requests.Count(r => r.StartsWith("GET /api/v1/pods", StringComparison.Ordinal) && !r.Contains("watch=true", StringComparison.Ordinal));

    private List<string> PodWatches() => [.. _api.Requests.Where(r => r.StartsWith("GET /api/v1/pods", StringComparison.Ordinal) && r.Contains("watch=true", StringComparison.Ordinal))];

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private async Task WaitForAsync(Func<bool> condition, string what)
    {
        try
        {
            await RecordingHandler.WaitForAsync(condition, Deadline, what);
        }
        catch (TimeoutException ex)
        {
            string error;
            lock (_error)
            {
                error = _error.ToString();
            }

            throw new TimeoutException($"{ex.Message}\n--- agent output ---\n{Output}\n--- agent errors ---\n{error}\n--- API requests ---\n{string.Join('\n', _api.Requests)}", ex);
        }
    }
}
