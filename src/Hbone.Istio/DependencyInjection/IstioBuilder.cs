using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Xds;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds what a gateway takes from istiod; returned by <see cref="IstioServiceCollectionExtensions.AddIstio"/>.</summary>
public sealed class IstioBuilder
{
    internal IstioBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Registers an <see cref="IstioCertificateManager"/> (also as <see cref="ITrustBundleSource"/>) whose certificates
    /// come from istiod's CA: ask it for an identity with <see cref="IstioCertificateManager.GetAsync"/>.
    /// </summary>
    /// <param name="lifetime">The lifetime asked of the CA (24 hours unless set).</param>
    /// <param name="impersonate">Ask for other identities than the caller's own, as a node proxy asks for its pods.</param>
    public IstioBuilder AddCertificates(TimeSpan? lifetime = null, bool impersonate = false)
    {
        Services.AddSingleton(sp => new IstioCaClient(sp.GetRequiredService<ControlPlaneChannel>(), lifetime, impersonate, sp.GetService<ILogger<IstioCaClient>>()));
        Services.AddSingleton(static sp => new IstioCertificateManager(sp.GetRequiredService<IstioCaClient>(), logger: sp.GetService<ILogger<IstioCertificateManager>>()));
        Services.AddSingleton<ITrustBundleSource>(static sp => sp.GetRequiredService<IstioCertificateManager>());
        return this;
    }

    /// <summary>
    /// Registers an <see cref="IstioMeshState"/> kept up to date by a <see cref="DeltaXdsClient"/> that a hosted service
    /// starts with the host and stops with it.
    /// </summary>
    /// <param name="configure">The node id and metadata to send (<see cref="XdsNode.FromEnvironment"/> reads ztunnel's variables), and backoff.</param>
    public IstioBuilder AddXds(Action<XdsClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.AddOptions<XdsClientOptions>().Configure(configure).ValidateOnStart();
        Services.AddSingleton(IstioServiceCollectionExtensions.Validator<XdsClientOptions>(static o => o.Validate()));
        Services.AddSingleton<IstioMeshState>();
        Services.AddSingleton(static sp =>
        {
            var client = new DeltaXdsClient(sp.GetRequiredService<ControlPlaneChannel>(), sp.GetRequiredService<IOptions<XdsClientOptions>>().Value, sp.GetService<ILogger<DeltaXdsClient>>());
            return client.SubscribeIstio(sp.GetRequiredService<IstioMeshState>());
        });
        Services.AddHostedService<XdsClientHostedService>();
        return this;
    }

    private sealed class XdsClientHostedService(DeltaXdsClient client) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            client.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => client.DisposeAsync().AsTask();
    }
}
