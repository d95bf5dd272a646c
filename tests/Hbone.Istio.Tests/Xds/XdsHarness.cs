using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Protos.Envoy.Discovery;
using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;
using Hbone.Istio.Tests.Infrastructure;
using Hbone.Istio.Xds;
using WorkloadAddress = Hbone.Istio.Protos.Workload.Address;

namespace Hbone.Istio.Tests.Xds;

/// <summary>A scripted ADS server, a client subscribed to Istio's types filling an <see cref="IstioMeshState"/>, and builders for resources.</summary>
internal sealed class XdsHarness : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = ScriptedAdsServer.Deadline;

    private XdsHarness(ScriptedAdsServer server, ControlPlaneChannel channel, DeltaXdsClient client)
    {
        Server = server;
        Channel = channel;
        Client = client;
    }

    public ScriptedAdsServer Server { get; }

    public ControlPlaneChannel Channel { get; }

    public DeltaXdsClient Client { get; }

    public IstioMeshState State { get; } = new();

    public static XdsNode TestNode() => new() { PodName = "ztunnel-x", PodNamespace = "istio-system", InstanceIp = "10.0.0.9", NodeName = "node-1", ClusterId = "c1" };

    /// <summary>Starts a server and a client; the token file is written unless <paramref name="writeToken"/> is false.</summary>
    public static async Task<XdsHarness> StartAsync(XdsClientOptions? options = null, bool writeToken = true, bool start = true)
    {
        ScriptedAdsServer server = await ScriptedAdsServer.StartAsync();
        IstioConnectionOptions connection = server.ClientOptions();
        if (writeToken)
        {
            await File.WriteAllTextAsync(connection.TokenPath!, "token-1\n");
        }

        var channel = new ControlPlaneChannel(connection);
        options ??= new XdsClientOptions { Node = TestNode() };
        var harness = new XdsHarness(server, channel, new DeltaXdsClient(channel, options));
        harness.Client.SubscribeIstio(harness.State);
        if (start)
        {
            harness.Client.Start();
        }

        return harness;
    }

    /// <summary>
    /// The next stream that carried its two initial requests (Address, then Authorization). A stream whose call was gone
    /// before both arrived is passed over: seen twice in CI (FT-04) and not understood; the client retries such a stream
    /// like any lost one, so what the tests assert (requests, backoff between arrivals) still holds.
    /// </summary>
    public async Task<(ScriptedStream Stream, DeltaDiscoveryRequest Address, DeltaDiscoveryRequest Authorization)> AcceptAsync()
    {
        while (true)
        {
            ScriptedStream stream = await Server.NextStreamAsync();
            try
            {
                DeltaDiscoveryRequest first = await stream.ReadAsync();
                DeltaDiscoveryRequest second = await stream.ReadAsync();
                return first.TypeUrl == XdsTypeUrls.Address ? (stream, first, second) : (stream, second, first);
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                // The next stream, within NextStreamAsync's deadline.
            }
        }
    }

    public static Resource Packed(string name, string version, IMessage message, string typeUrl) =>
        Raw(name, version, typeUrl, message.ToByteArray());

    /// <summary>A resource built by hand, so its bytes and type URL can be anything.</summary>
    public static Resource Raw(string name, string version, string typeUrl, byte[] bytes) =>
        new() { Name = name, Version = version, Resource_ = new Any { TypeUrl = typeUrl, Value = ByteString.CopyFrom(bytes) } };

    public static Resource WorkloadResource(string uid, string version, params byte[][] addresses)
    {
        Workload workload = new() { Uid = uid, Name = uid, Namespace = "default" };
        foreach (byte[] address in addresses)
        {
            workload.Addresses.Add(ByteString.CopyFrom(address));
        }

        return Packed(uid, version, new WorkloadAddress { Workload = workload }, XdsTypeUrls.Address);
    }

    public static Resource ServiceResource(string ns, string hostname, string version) =>
        Packed($"{ns}/{hostname}", version, new WorkloadAddress { Service = new Service { Name = hostname.Split('.')[0], Namespace = ns, Hostname = hostname } }, XdsTypeUrls.Address);

    public static Resource PolicyResource(string ns, string name, string version) =>
        Packed($"{ns}/{name}", version, new Authorization { Namespace = ns, Name = name, Action = Hbone.Istio.Protos.Security.Action.Allow }, XdsTypeUrls.Authorization);

    public static DeltaDiscoveryResponse Response(string typeUrl, string nonce, IEnumerable<Resource> resources, params string[] removed)
    {
        DeltaDiscoveryResponse response = new() { TypeUrl = typeUrl, Nonce = nonce, SystemVersionInfo = "v" };
        response.Resources.Add(resources);
        response.RemovedResources.Add(removed);
        return response;
    }

    public static byte[] Ip(params byte[] bytes) => bytes;

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        Channel.Dispose();
        await Server.DisposeAsync();
    }
}
