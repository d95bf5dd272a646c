using System.Collections.Concurrent;
using Hbone.Ztunnel.Cni.Tests.Rules;
using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.Cni.Tests.Zds;

/// <summary>A ztunnel that stops answering must not hold the node agent: each hello and ack wait is bounded.</summary>
public sealed class ZdsServerTimeoutTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan AckTimeout = TimeSpan.FromMilliseconds(500);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-zds-timeout-").FullName;

    private string SocketPath => Path.Combine(_directory, "ztunnel.sock");

    [Fact]
    [Trait("case", "CNI-ZDS-01")]
    public async Task CNI_ZDS_01_a_missing_ack_drops_that_connection_and_the_server_keeps_serving()
    {
        using var pod = new TestNetns();
        await using var agent = new ZdsServer(SocketPath, AckTimeout);
        var acks = new ConcurrentQueue<(string Uid, string Error)>();
        agent.Acked += (uid, error) => acks.Enqueue((uid, error));
        agent.Add(new ZdsWorkload("uid-a", "a", "default", "sa-a", pod.Path));

        using var silent = ZdsSocket.Connect(SocketPath);
        silent.Send(new ZdsHello { Version = Hbone.Ztunnel.Zds.Version.V1 });
        var add = await Task.Run(() => silent.Receive(WorkloadRequest.Parser)).WaitAsync(Deadline);
        Assert.NotNull(add);
        Assert.Equal("uid-a", add.Message.Add.Uid);
        Assert.All(add.FileDescriptors, fd => fd.Dispose());

        // Never acked: the server gives up after the timeout and closes the connection.
        var next = await Task.Run(() => silent.Receive(WorkloadRequest.Parser)).WaitAsync(Deadline);
        Assert.Null(next);
        var timedOut = Assert.Single(acks);
        Assert.Equal("uid-a", timedOut.Uid);
        Assert.StartsWith("no ack within 0.5 s", timedOut.Error, StringComparison.Ordinal);

        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);
        Assert.Equal(["uid-a"], handler.Present);
    }

    [Fact]
    [Trait("case", "CNI-ZDS-02")]
    public async Task CNI_ZDS_02_a_connection_that_never_says_hello_is_closed_after_the_timeout()
    {
        await using var agent = new ZdsServer(SocketPath, AckTimeout);
        using var silent = ZdsSocket.Connect(SocketPath);

        var closed = await Task.Run(() => silent.Receive(WorkloadRequest.Parser)).WaitAsync(Deadline);

        Assert.Null(closed);
    }

    [Fact]
    [Trait("case", "CNI-ZDS-03")]
    public async Task CNI_ZDS_03_a_pod_whose_namespace_is_gone_is_skipped_not_the_connection()
    {
        using var pod = new TestNetns();
        await using var agent = new ZdsServer(SocketPath, AckTimeout);
        var acks = new ConcurrentQueue<(string Uid, string Error)>();
        agent.Acked += (uid, error) => acks.Enqueue((uid, error));
        agent.Add(new ZdsWorkload("uid-gone", "gone", "default", "sa", "/var/run/netns/hbone-test-does-not-exist"));
        agent.Add(new ZdsWorkload("uid-ok", "ok", "default", "sa", pod.Path));

        var handler = new RecordingHandler();
        await using var ztunnel = new ZdsClient(SocketPath, handler);
        await ztunnel.Ready.WaitAsync(Deadline);

        Assert.Equal(["uid-ok"], handler.Present);
        Assert.Equal(1, ztunnel.Connections);
        Assert.Contains(acks, ack => ack.Uid == "uid-gone" && ack.Error.StartsWith("cannot open network namespace", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
