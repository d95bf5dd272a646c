using System.Collections.Concurrent;
using Hbone.Ztunnel.Cni.Tests.Rules;
using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.Cni.Tests.Zds;

/// <summary>The ZDS conversation between the node agent and the ztunnel, over a real socket with real namespaces.</summary>
public sealed class ZdsProtocolTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-zds-").FullName;

    private string SocketPath => Path.Combine(_directory, "ztunnel.sock");

    [Fact]
    public async Task Snapshot_then_ready_then_live_add_and_delete_each_acked()
    {
        using var podA = new TestNetns();
        using var podB = new TestNetns();
        await using var agent = new ZdsServer(SocketPath);
        var acks = new ConcurrentQueue<(string Uid, string Error)>();
        agent.Acked += (uid, error) => acks.Enqueue((uid, error));
        agent.Add(new ZdsWorkload("uid-a", "a", "default", "sa-a", podA.Path));

        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        Assert.Equal(["uid-a"], handler.Present);
        Assert.Equal("sa-a", handler.Added["uid-a"]);

        agent.Add(new ZdsWorkload("uid-b", "b", "default", "sa-b", podB.Path));
        await RecordingHandler.WaitForAsync(() => handler.Added.ContainsKey("uid-b"), Deadline);
        agent.Delete("uid-a");
        await RecordingHandler.WaitForAsync(() => handler.Deleted.Contains("uid-a"), Deadline);

        await RecordingHandler.WaitForAsync(() => acks.Count >= 4, Deadline);
        Assert.All(acks, ack => Assert.Equal(string.Empty, ack.Error));
        Assert.Contains(acks, ack => ack.Uid == "uid-b");
    }

    [Fact]
    public async Task A_failed_pod_is_acked_with_its_error_and_the_ztunnel_is_not_ready()
    {
        using var pod = new TestNetns();
        await using var agent = new ZdsServer(SocketPath);
        var errors = new ConcurrentQueue<string>();
        agent.Acked += (_, error) => errors.Enqueue(error);
        agent.Add(new ZdsWorkload("uid-bad", "bad", "default", "sa", pod.Path));

        var handler = new RecordingHandler { FailAdds = true };
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await RecordingHandler.WaitForAsync(() => handler.SnapshotCompleted, Deadline);
        await RecordingHandler.WaitForAsync(() => errors.Count >= 2, Deadline);

        Assert.Contains("cannot set up uid-bad", errors);
        Assert.False(ztunnel.Ready.IsCompleted, "a snapshot with a failed pod must not make the ztunnel ready");
    }

    [Fact]
    public async Task After_an_agent_restart_the_ztunnel_reconnects_and_reconciles_with_the_new_snapshot()
    {
        using var podA = new TestNetns();
        using var podB = new TestNetns();
        var handler = new RecordingHandler();
        var first = new ZdsServer(SocketPath);
        first.Add(new ZdsWorkload("uid-a", "a", "default", "sa-a", podA.Path));
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        await first.DisposeAsync();

        // The restarted agent no longer knows pod A: the ztunnel must drop it after the new snapshot.
        await using var second = new ZdsServer(SocketPath);
        second.Add(new ZdsWorkload("uid-b", "b", "default", "sa-b", podB.Path));
        await RecordingHandler.WaitForAsync(() => handler.Present.SequenceEqual(["uid-b"]), Deadline);
        Assert.True(ztunnel.Connections >= 2);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
