using System.Net;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.MemoryProbe;

/// <summary>HboneClient -> Hbone.Kestrel in this process -> a TCP sink (in a child process unless asked otherwise), all on 127.0.0.1.</summary>
internal sealed class TunnelProbe : IAsyncDisposable
{
    private readonly DevelopmentCertificateAuthority _ca = new();
    private TcpSink? _sink;
    private readonly List<HboneStream> _tunnels = [];
    private WebApplication? _server;
    private HboneClient? _client;
    private HboneRequest? _request;

    public static async Task<TunnelProbe> StartAsync(int streamsPerConnection, bool sinkInProcess)
    {
        var probe = new TunnelProbe();
        await probe.InitializeAsync(streamsPerConnection, sinkInProcess);
        return probe;
    }

    private async Task InitializeAsync(int streamsPerConnection, bool sinkInProcess)
    {
        _sink = await TcpSink.StartAsync(sinkInProcess);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHboneServer(o => o.Certificate = new InMemoryCertificateSource(_ca.IssueIstio("default", "server"), _ca.TrustBundle)).AddForwarder();
        builder.WebHost.ConfigureKestrel(k => k.ListenHbone(IPAddress.Loopback, 0));
        _server = builder.Build();
        await _server.StartAsync();
        var port = new Uri(_server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        _client = new HboneClient(new HboneClientOptions
        {
            Certificate = new InMemoryCertificateSource(_ca.IssueIstio("default", "client"), _ca.TrustBundle),
            MaxStreamsPerConnection = streamsPerConnection,
        });
        _request = new HboneRequest
        {
            Destination = new IPEndPoint(IPAddress.Loopback, port),
            Authority = HboneAuthority.FromEndPoint(_sink.EndPoint),
            ForwardedFor = new IPEndPoint(IPAddress.Parse("10.244.0.2"), 40000),
        };
    }

    /// <summary>Opens <paramref name="count"/> tunnels (one byte each way in flight) and returns live bytes per tunnel.</summary>
    public async Task<long> MeasureAsync(int count)
    {
        // Warm up: JIT, pools and the first connection do not count.
        await OpenAsync(200);
        await UpstreamReachedAsync(200);
        var before = LiveBytes();
        await OpenAsync(count);
        await UpstreamReachedAsync(200 + count);
        return (LiveBytes() - before) / count;
    }

    /// <summary>Waits (bounded) until every tunnel opened so far has its upstream connection accepted.</summary>
    private async Task UpstreamReachedAsync(int tunnels)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (_sink!.Accepted >= tunnels)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {_sink.Accepted} of {tunnels} tunnels reached the upstream within 60 s.");
            }

            await Task.Delay(20);
        }
    }

    private async Task OpenAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var tunnel = await _client!.ConnectAsync(_request!);
            await tunnel.WriteAsync(new byte[1]);
            _tunnels.Add(tunnel);
        }
    }

    private static long LiveBytes()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var tunnel in _tunnels)
        {
            tunnel.Abort();
        }

        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
            await _server.DisposeAsync();
        }

        if (_sink is not null)
        {
            await _sink.DisposeAsync();
        }

        _ca.Dispose();
    }
}
