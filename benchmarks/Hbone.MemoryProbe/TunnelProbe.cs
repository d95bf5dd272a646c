using System.Net;
using System.Net.Sockets;
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

/// <summary>HboneClient -> Hbone.Kestrel -> a TCP sink, all on 127.0.0.1 in this process.</summary>
internal sealed class TunnelProbe : IAsyncDisposable
{
    private readonly DevelopmentCertificateAuthority _ca = new();
    private readonly Socket _sink = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _accepted = [];
    private readonly List<HboneStream> _tunnels = [];
    private WebApplication? _server;
    private HboneClient? _client;
    private HboneRequest? _request;

    public static async Task<TunnelProbe> StartAsync(int streamsPerConnection)
    {
        var probe = new TunnelProbe();
        await probe.InitializeAsync(streamsPerConnection);
        return probe;
    }

    private async Task InitializeAsync(int streamsPerConnection)
    {
        _sink.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _sink.Listen(8192);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var socket = await _sink.AcceptAsync();
                lock (_accepted)
                {
                    _accepted.Add(socket);
                }
            }
        });

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
            Authority = HboneAuthority.FromEndPoint((IPEndPoint)_sink.LocalEndPoint!),
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
            lock (_accepted)
            {
                if (_accepted.Count >= tunnels)
                {
                    return;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {_accepted.Count} of {tunnels} tunnels reached the upstream within 60 s.");
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

        _sink.Dispose();
        lock (_accepted)
        {
            _accepted.ForEach(s => s.Dispose());
        }

        _ca.Dispose();
    }
}
