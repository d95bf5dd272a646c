using System.Collections.Concurrent;
using System.Net;
using Hbone.Identity;
using Hbone.Kestrel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Istio.Tests.Samples;

/// <summary>
/// A pod's ztunnel as the waypoint reaches it: a real HBONE server on the pod's own address and 15008 (a loopback
/// address of its own, 127.77.x.y), presenting the pod's identity; it records each CONNECT and echoes the bytes.
/// </summary>
internal sealed class MeshPod : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MeshPod(IPAddress address, WebApplication app)
    {
        Address = address;
        _app = app;
    }

    /// <summary>The pod's IP, as its workload lists it.</summary>
    public IPAddress Address { get; }

    /// <summary>What reached the pod: the peer's identity, <c>Forwarded</c>'s for and host, and the <c>:authority</c>.</summary>
    public ConcurrentQueue<(SpiffeId Peer, IPEndPoint? For, string? Host, string Authority)> Seen { get; } = new();

    public static async Task<MeshPod> StartAsync(InMemoryCertificateSource identity)
    {
        // Another test may hold 15008 on one address: a few fresh addresses are tried.
        for (int attempt = 0; ; attempt++)
        {
            var address = new IPAddress([127, 77, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255)]);
            MeshPod? pod = null;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddHboneServer(o =>
            {
                o.Certificate = identity;
                o.TrustBundle = identity;
            }).AddHandler(async context =>
            {
                pod!.Seen.Enqueue((context.PeerIdentity, context.ForwardedFor, context.Forwarded?.Host, context.Authority.ToString()));
                var tunnel = await context.AcceptAsync(context.Aborted);
                await tunnel.Stream.CopyToAsync(tunnel.Stream, context.Aborted);
                await tunnel.CompleteWritesAsync();
            });
            builder.WebHost.UseKestrel(k => k.ListenHbone(address, 15008));
            WebApplication app = builder.Build();
            pod = new MeshPod(address, app);
            try
            {
                await app.StartAsync();
                return pod;
            }
            catch (IOException) when (attempt < 5)
            {
                await app.DisposeAsync();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
