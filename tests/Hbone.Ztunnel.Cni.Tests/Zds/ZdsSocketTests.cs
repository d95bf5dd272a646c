using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Cni.Tests.Rules;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.Cni.Tests.Zds;

/// <summary>The ZDS transport: SOCK_SEQPACKET datagrams with a pod's network namespace passed as SCM_RIGHTS.</summary>
public sealed class ZdsSocketTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-zds-").FullName;

    [Fact]
    public async Task Hello_add_with_the_pod_namespace_fd_and_ack_round_trip()
    {
        using var pod = new TestNetns();
        pod.Exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer");
        pod.Exec("ip", "addr", "add", "10.244.0.7/24", "dev", "eth0");
        using var listener = new ZdsListener(Path.Combine(_directory, "ztunnel.sock"));
        var accepting = listener.AcceptAsync(CancellationToken.None);
        using var ztunnel = ZdsSocket.Connect(listener.Path);
        using var agent = await accepting.WaitAsync(Deadline);

        ztunnel.Send(new ZdsHello { Version = Hbone.Ztunnel.Zds.Version.V1 });
        var hello = await Task.Run(() => agent.Receive(ZdsHello.Parser)).WaitAsync(Deadline);
        Assert.Equal(Hbone.Ztunnel.Zds.Version.V1, hello!.Message.Version);

        using (var netnsFd = File.OpenHandle(pod.Path))
        {
            agent.Send(new WorkloadRequest
            {
                Add = new AddWorkload { Uid = "cluster1//v1/Pod/default/client", WorkloadInfo = new WorkloadInfo { Name = "client", Namespace = "default", ServiceAccount = "client" } },
            }, netnsFd);
        }

        var add = await Task.Run(() => ztunnel.Receive(WorkloadRequest.Parser)).WaitAsync(Deadline);
        Assert.Equal(WorkloadRequest.PayloadOneofCase.Add, add!.Message.PayloadCase);
        Assert.Equal("client", add.Message.Add.WorkloadInfo.ServiceAccount);
        using var received = Assert.Single(add.FileDescriptors);

        // The descriptor is the pod's namespace: its address can be bound there, and only there.
        using var bound = NetworkNamespace.Run(received, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse("10.244.0.7"), 0));
            return socket;
        });
        Assert.Equal(IPAddress.Parse("10.244.0.7"), ((IPEndPoint)bound.LocalEndPoint!).Address);
        using var outside = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.Throws<SocketException>(() => outside.Bind(new IPEndPoint(IPAddress.Parse("10.244.0.7"), 0)));

        ztunnel.Send(new WorkloadResponse { Ack = new Ack() });
        var ack = await Task.Run(() => agent.Receive(WorkloadResponse.Parser)).WaitAsync(Deadline);
        Assert.Equal(string.Empty, ack!.Message.Ack.Error);
        Assert.Empty(ack.FileDescriptors);
    }

    [Fact]
    public async Task Messages_without_fds_arrive_whole_and_a_closed_peer_reads_as_null()
    {
        using var listener = new ZdsListener(Path.Combine(_directory, "ztunnel.sock"));
        var accepting = listener.AcceptAsync(CancellationToken.None);
        var ztunnel = ZdsSocket.Connect(listener.Path);
        using var agent = await accepting.WaitAsync(Deadline);

        agent.Send(new WorkloadRequest { Del = new DelWorkload { Uid = "uid-1" } });
        agent.Send(new WorkloadRequest { SnapshotSent = new SnapshotSent() });
        var del = await Task.Run(() => ztunnel.Receive(WorkloadRequest.Parser)).WaitAsync(Deadline);
        var snapshot = await Task.Run(() => ztunnel.Receive(WorkloadRequest.Parser)).WaitAsync(Deadline);
        Assert.Equal("uid-1", del!.Message.Del.Uid);
        Assert.Equal(WorkloadRequest.PayloadOneofCase.SnapshotSent, snapshot!.Message.PayloadCase);

        ztunnel.Dispose();
        Assert.Null(await Task.Run(() => agent.Receive(WorkloadResponse.Parser)).WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CNI-ZDS-09")]
    public async Task Disposing_twice_is_harmless_as_when_the_client_and_its_loop_both_close_the_socket()
    {
        using var listener = new ZdsListener(Path.Combine(_directory, "ztunnel.sock"));
        var accepting = listener.AcceptAsync(CancellationToken.None);
        var ztunnel = ZdsSocket.Connect(listener.Path);
        using var agent = await accepting.WaitAsync(Deadline);

        ztunnel.Dispose();
        ztunnel.Dispose();

        Assert.Null(await Task.Run(() => agent.Receive(WorkloadResponse.Parser)).WaitAsync(Deadline));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
