using System.Net;
using System.Security.Cryptography.X509Certificates;
using DevControlPlane.Ca;
using DevControlPlane.Config;
using DevControlPlane.Xds;
using Hbone.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace DevControlPlane.Hosting;

/// <summary>The development control plane: delta ADS and the CA on one TLS (HTTP/2 only) listener, as istiod serves 15012.</summary>
public sealed class DevControlPlaneHost : IAsyncDisposable
{
    /// <summary>How long a stop waits for clients to close their connections after their streams were ended.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;
    private readonly DevelopmentCertificateAuthority _ca;
    private readonly X509Certificate2 _servingCertificate;
    private int _disposed;

    private DevControlPlaneHost(WebApplication app, DevelopmentCertificateAuthority ca, X509Certificate2 servingCertificate, IReadOnlyList<IPEndPoint> endpoints)
    {
        _app = app;
        _ca = ca;
        _servingCertificate = servingCertificate;
        Endpoints = endpoints;
    }

    /// <summary>The bound addresses (ports resolved when 0 was asked for).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints { get; }

    /// <summary>The mesh config being served.</summary>
    public MeshState Mesh => _app.Services.GetRequiredService<MeshState>();

    /// <summary>Starts serving.</summary>
    /// <exception cref="MeshConfigException">The config file is not valid.</exception>
    /// <exception cref="IOException">A file cannot be read or an address cannot be bound.</exception>
    /// <exception cref="CertificateLoadException">The CA files are not a certificate and its key.</exception>
    public static async Task<DevControlPlaneHost> StartAsync(DevControlPlaneOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Listen.Count == 0)
        {
            throw new ArgumentException("at least one listen address is needed", nameof(options));
        }

        var ca = DevelopmentCertificateAuthority.FromPem(File.ReadAllText(options.CaCertPath), File.ReadAllText(options.CaKeyPath), options.TrustDomain);
        X509Certificate2 serving = ca.IssueServerCertificate([options.ServerName], ServingAddresses(options.Listen), TimeSpan.FromDays(365));
        WebApplication app = Build(options, ca, serving);
        try
        {
            // Loaded before serving: a bad config fails the start instead of the first request.
            _ = app.Services.GetRequiredService<MeshState>();
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            serving.Dispose();
            ca.Dispose();
            throw;
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var endpoints = addresses.Select(a => new Uri(a)).Select(u => new IPEndPoint(IPAddress.Parse(u.Host.Trim('[', ']')), u.Port)).ToList();
        return new DevControlPlaneHost(app, ca, serving, endpoints);
    }

    /// <summary>Completes when the host is asked to stop (SIGTERM, Ctrl+C).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
        _servingCertificate.Dispose();
        _ca.Dispose();
    }

    private static WebApplication Build(DevControlPlaneOptions options, DevelopmentCertificateAuthority ca, X509Certificate2 serving)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.IncludeScopes = false; });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (IPEndPoint endpoint in options.Listen)
            {
                kestrel.Listen(endpoint, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    listen.UseHttps(serving);
                });
            }
        });
        builder.Services.AddGrpc();
        // xDS streams are ended at ApplicationStopping; a client that keeps its connection open after that must not hold the stop for 30 s.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownGrace);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(ca);
        builder.Services.AddSingleton(new NodeTokens(options.NodeByToken));
        builder.Services.AddSingleton(sp => new MeshState(options.ConfigPath, options.TrustDomain, sp.GetRequiredService<ILogger<MeshState>>()));

        WebApplication app = builder.Build();
        app.MapGrpcService<DeltaAdsService>();
        app.MapGrpcService<MeshCertificateService>();
        return app;
    }

    /// <summary>The IPs clients may dial: those listened on, and loopback for a wildcard listener.</summary>
    private static List<IPAddress> ServingAddresses(IEnumerable<IPEndPoint> listen)
    {
        var addresses = new List<IPAddress>();
        foreach (IPEndPoint endpoint in listen)
        {
            IPAddress address = endpoint.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
                : endpoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
                : endpoint.Address;
            if (!addresses.Contains(address))
            {
                addresses.Add(address);
            }
        }

        return addresses;
    }
}
