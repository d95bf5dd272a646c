using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Istio.Tests.Infrastructure;

/// <summary>The scripted servers' host, shaped like istiod's 15012: Kestrel on 127.0.0.1 port 0, HTTP/2 only, TLS, gRPC.</summary>
internal static class LoopbackGrpcHost
{
    /// <summary>A builder with gRPC registered and the one listener set up with <paramref name="certificate"/>.</summary>
    public static WebApplicationBuilder CreateBuilder(X509Certificate2 certificate)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttps(certificate);
        }));
        return builder;
    }

    /// <summary>Starts <paramref name="app"/> and returns the address it bound, <c>https://127.0.0.1:port</c>.</summary>
    public static async Task<Uri> StartAsync(WebApplication app, TimeSpan deadline)
    {
        await app.StartAsync().WaitAsync(deadline);
        return new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }
}
