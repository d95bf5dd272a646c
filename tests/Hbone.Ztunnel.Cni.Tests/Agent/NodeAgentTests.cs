using Hbone.Ztunnel.Cni.Agent;
using Hbone.Ztunnel.Cni.Tests.Rules;
using Hbone.Ztunnel.Cni.Tests.Zds;
using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.Cni.Tests.Agent;

/// <summary>The node agent daemon: the pods directory as the source of truth, a real ZdsClient as the ztunnel, real namespaces.</summary>
public sealed class NodeAgentTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-agent-").FullName;
    private readonly StringWriter _output = new();
    private readonly StringWriter _error = new();

    private string SocketPath => Path.Combine(_directory, "run", "ztunnel.sock");

    private string PodsDirectory => Path.Combine(_directory, "pods");

    [Fact]
    [Trait("case", "CNI-AGENT-01")]
    public async Task CNI_AGENT_01_pods_present_at_start_arrive_in_the_snapshot_and_are_acked()
    {
        using var netns = new TestNetns();
        PodDirectory.Write(PodsDirectory, Pod("cluster1//v1/Pod/default/client", "client", netns));
        await using var agent = StartAgent();
        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);

        await ztunnel.Ready.WaitAsync(Deadline);

        Assert.Equal(["cluster1//v1/Pod/default/client"], handler.Present);
        var info = handler.Infos["cluster1//v1/Pod/default/client"];
        Assert.Equal(("client", "default", "sa-client"), (info.Name, info.Namespace, info.ServiceAccount));
        await RecordingHandler.WaitForAsync(() => Output.Contains("agent: ack uid=cluster1//v1/Pod/default/client ok", StringComparison.Ordinal), Deadline, "ack log line");
        Assert.Contains($"agent: add default/client uid=cluster1//v1/Pod/default/client sa=sa-client netns={netns.Path}", Output, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-02")]
    public async Task CNI_AGENT_02_a_pod_file_added_later_is_sent_as_an_add_with_its_info()
    {
        using var netns = new TestNetns();

        // A long rescan period: the file watcher alone must deliver the add well within the deadline.
        await using var agent = StartAgent(rescanInterval: TimeSpan.FromMinutes(5));
        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        Assert.Empty(handler.Present);

        PodDirectory.Write(PodsDirectory, Pod("uid-late", "late", netns));

        await RecordingHandler.WaitForAsync(() => handler.Infos.ContainsKey("uid-late"), Deadline, "add of uid-late");
        var info = handler.Infos["uid-late"];
        Assert.Equal(("late", "default", "sa-late"), (info.Name, info.Namespace, info.ServiceAccount));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-02")]
    public async Task CNI_AGENT_02_a_pod_file_written_just_before_a_ztunnel_connects_is_in_its_snapshot()
    {
        using var netns = new TestNetns();

        // Nothing but the connection itself may read the directory: no periodic rescan, a debounce far away.
        await using var agent = StartAgent(rescanInterval: TimeSpan.FromMinutes(5), debounce: TimeSpan.FromMinutes(5));
        PodDirectory.Write(PodsDirectory, Pod("uid-just-written", "fresh", netns));
        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);

        await ztunnel.Ready.WaitAsync(Deadline);

        Assert.Equal(["uid-just-written"], handler.Present);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-03")]
    public async Task CNI_AGENT_03_a_removed_pod_file_is_sent_as_a_delete()
    {
        using var netns = new TestNetns();
        PodDirectory.Write(PodsDirectory, Pod("uid-gone", "gone", netns));
        await using var agent = StartAgent();
        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        Assert.Equal(["uid-gone"], handler.Present);

        Assert.True(PodDirectory.Delete(PodsDirectory, "uid-gone"));

        await RecordingHandler.WaitForAsync(() => handler.Deleted.Contains("uid-gone"), Deadline, "delete of uid-gone");
        Assert.Empty(agent.EnrolledUids);
        Assert.Contains("agent: delete default/gone uid=uid-gone", Output, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-04")]
    public async Task CNI_AGENT_04_after_an_agent_restart_the_ztunnel_reconnects_and_gets_the_snapshot_again()
    {
        using var netnsA = new TestNetns();
        using var netnsB = new TestNetns();
        PodDirectory.Write(PodsDirectory, Pod("uid-a", "a", netnsA));
        var handler = new RecordingHandler();
        var first = StartAgent();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        Assert.Equal(1, ztunnel.Connections);
        await first.DisposeAsync();

        // While the agent is down pod B is enrolled and pod A removed: the new agent's snapshot says so.
        PodDirectory.Write(PodsDirectory, Pod("uid-b", "b", netnsB));
        PodDirectory.Delete(PodsDirectory, "uid-a");
        await using var second = StartAgent();

        await RecordingHandler.WaitForAsync(() => handler.Snapshots >= 2, Deadline, "second snapshot");
        Assert.Equal(["uid-b"], handler.Present);
        Assert.Equal(2, ztunnel.Connections);
        Assert.Equal("sa-b", handler.Added["uid-b"]);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-05")]
    public async Task CNI_AGENT_05_bad_pod_files_are_reported_once_on_stderr_and_skipped()
    {
        using var netns = new TestNetns();
        Directory.CreateDirectory(PodsDirectory);
        await File.WriteAllTextAsync(Path.Combine(PodsDirectory, "garbage.json"), "{not json");
        await File.WriteAllTextAsync(Path.Combine(PodsDirectory, "missing-field.json"), """{"uid":"u1","name":"n","namespace":"default","netns":"/var/run/netns/x"}""");
        PodDirectory.Write(PodsDirectory, Pod("uid-no-netns", "ghost", "/var/run/netns/hbone-test-does-not-exist"));
        PodDirectory.Write(PodsDirectory, Pod("uid-good", "good", netns));

        // A fast rescan: the bad files are seen many times but reported once each.
        await using var agent = StartAgent(rescanInterval: TimeSpan.FromMilliseconds(100));
        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        await Task.Delay(500);

        Assert.Equal(["uid-good"], handler.Present);
        var errors = Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, errors.Length);
        Assert.Contains(errors, line => line.Contains("garbage.json: not a pod record", StringComparison.Ordinal));
        Assert.Contains(errors, line => line.Contains("missing-field.json: field 'serviceAccount' is missing or empty", StringComparison.Ordinal));
        Assert.Contains(errors, line => line.Contains("network namespace /var/run/netns/hbone-test-does-not-exist does not exist", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-06")]
    public async Task CNI_AGENT_06_a_pod_file_that_turns_bad_keeps_its_pod_and_a_fixed_file_updates_it()
    {
        using var netns = new TestNetns();
        var path = PodDirectory.Write(PodsDirectory, Pod("uid-edit", "edit", netns));
        await using var agent = StartAgent();
        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);

        await File.WriteAllTextAsync(path, "{half");
        await RecordingHandler.WaitForAsync(() => Error.Contains("uid-edit", StringComparison.Ordinal) || Error.Contains(Path.GetFileName(path), StringComparison.Ordinal), Deadline, "bad file report");
        Assert.Empty(handler.Deleted);

        PodDirectory.Write(PodsDirectory, Pod("uid-edit", "edit", netns) with { ServiceAccount = "sa-new" });
        await RecordingHandler.WaitForAsync(() => handler.Added["uid-edit"] == "sa-new", Deadline, "re-add with the new service account");
        Assert.Empty(handler.Deleted);
    }

    [Fact]
    public void Pod_file_names_are_file_safe_and_distinct_for_distinct_uids()
    {
        Assert.Equal("cluster1_2F_2Fv1_2FPod_2Fdefault_2Fclient.json", PodDirectory.FileNameOf("cluster1//v1/Pod/default/client"));
        Assert.Equal("_2E.json", PodDirectory.FileNameOf("."));
        Assert.Equal("a.b-c.json", PodDirectory.FileNameOf("a.b-c"));
        Assert.NotEqual(PodDirectory.FileNameOf("a/b"), PodDirectory.FileNameOf("a_2Fb"));
    }

    public void Dispose()
    {
        _output.Dispose();
        _error.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

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

    private string Error
    {
        get
        {
            lock (_error)
            {
                return _error.ToString();
            }
        }
    }

    private NodeAgent StartAgent(TimeSpan? rescanInterval = null, TimeSpan? debounce = null) =>
        new(SocketPath, PodsDirectory, _output, _error, rescanInterval, debounce ?? TimeSpan.FromMilliseconds(50));

    private static PodRecord Pod(string uid, string name, TestNetns netns) => Pod(uid, name, netns.Path);

    private static PodRecord Pod(string uid, string name, string netnsPath) => new(uid, name, "default", $"sa-{name}", netnsPath);
}
