using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.InPod;

namespace Hbone.Ztunnel.Tests.InPod;

/// <summary><see cref="NetnsExecutor"/> and <see cref="NetworkNamespace"/> against a real network namespace.</summary>
public sealed class NetnsExecutorTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "ZT-UNIT-10")]
    public async Task A_listener_created_through_the_executor_lives_in_the_pod_netns()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        using Socket listener = executor.Invoke(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            socket.Listen(8);
            return socket;
        });
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;

        // The host's 127.0.0.1 is another loopback: nothing listens on that port there.
        using (var fromHost = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(() => fromHost.ConnectAsync(endPoint).WaitAsync(Deadline));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        // A socket created in the namespace reaches it, and I/O works from any thread afterwards.
        using Socket fromPod = executor.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        await fromPod.ConnectAsync(endPoint).WaitAsync(Deadline);
        using Socket accepted = await listener.AcceptAsync().WaitAsync(Deadline);
        Assert.Equal(fromPod.LocalEndPoint, accepted.RemoteEndPoint);
        await fromPod.SendAsync(new byte[] { 1, 2, 3 }).WaitAsync(Deadline);
        byte[] buffer = new byte[3];
        Assert.Equal(3, await accepted.ReceiveAsync(buffer).WaitAsync(Deadline));
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-10")]
    public void Invoke_runs_on_a_thread_in_the_pod_netns_and_the_caller_stays_in_the_host_netns()
    {
        using var netns = new TestNetns();
        string podNetns = netns.Exec("readlink", "/proc/self/ns/net").Trim();
        string hostNetns = CurrentThreadNetns();
        Assert.NotEqual(hostNetns, podNetns);

        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);

        Assert.Equal(podNetns, executor.Invoke(CurrentThreadNetns));
        Assert.Equal(podNetns, executor.Invoke(CurrentThreadNetns));
        Assert.Equal(hostNetns, CurrentThreadNetns());
    }

    [Fact]
    [Trait("case", "ZT-UNIT-10")]
    public void NetworkNamespace_Run_by_path_and_by_handle_runs_once_in_the_netns()
    {
        using var netns = new TestNetns();
        string podNetns = netns.Exec("readlink", "/proc/self/ns/net").Trim();

        Assert.Equal(podNetns, NetworkNamespace.Run(netns.Path, CurrentThreadNetns));
        using var handle = File.OpenHandle(netns.Path);
        Assert.Equal(podNetns, NetworkNamespace.Run(handle, CurrentThreadNetns, netns.Name));

        // The handle is borrowed, not closed.
        Assert.False(handle.IsClosed);
        Assert.Equal(podNetns, NetworkNamespace.Run(handle, CurrentThreadNetns));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-11")]
    public void Exceptions_thrown_inside_Invoke_reach_the_caller()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var thrown = new InvalidOperationException("boom in the pod");

        var caught = Assert.Throws<InvalidOperationException>(() => executor.Invoke<int>(() => throw thrown));

        Assert.Same(thrown, caught);
        Assert.Equal(42, executor.Invoke(() => 42));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-11")]
    public void Invoke_after_dispose_throws_ObjectDisposedException()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        var executor = new NetnsExecutor(handle, netns.Name);
        Assert.Equal(1, executor.Invoke(() => 1));

        executor.Dispose();

        Assert.Throws<ObjectDisposedException>(() => executor.Invoke(() => 2));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-11")]
    public void Setns_into_a_regular_file_throws_IOException()
    {
        string path = Path.GetTempFileName();
        try
        {
            using var handle = File.OpenHandle(path);
            var error = Assert.Throws<IOException>(() => new NetnsExecutor(handle, "not-a-netns"));
            Assert.StartsWith("setns into the network namespace of not-a-netns failed: errno 22", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // setns moves only the calling thread, so ask for this thread's namespace, not the process's.
    private static string CurrentThreadNetns() => new FileInfo("/proc/thread-self/ns/net").LinkTarget!;
}
