using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Xds;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hbone.Istio.Tests.DependencyInjection;

public sealed class IstioServiceCollectionTests
{
    [Fact]
    public async Task DI_01_AddIstio_registers_one_channel_the_certificate_manager_as_trust_bundle_and_the_mesh_state()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddIstio(o =>
        {
            o.Address = new Uri("https://127.0.0.1:15012");
            o.RootCertificate = "SYSTEM";
        }).AddCertificates(TimeSpan.FromHours(1)).AddXds(o => o.Node.PodName = "gw");
        await using var provider = services.BuildServiceProvider();

        Assert.Same(provider.GetRequiredService<ControlPlaneChannel>(), provider.GetRequiredService<ControlPlaneChannel>());
        Assert.Same(provider.GetRequiredService<IstioCertificateManager>(), provider.GetRequiredService<ITrustBundleSource>());
        Assert.Equal(TimeSpan.FromHours(1), provider.GetRequiredService<IstioCaClient>().Lifetime);
        Assert.NotNull(provider.GetRequiredService<IstioMeshState>());
        Assert.Equal("gw", provider.GetRequiredService<IOptions<XdsClientOptions>>().Value.Node.PodName);
        Assert.Single(provider.GetServices<IHostedService>());
    }

    [Fact]
    public async Task DI_02_bad_connection_options_fail_the_host_at_start_naming_the_problem()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddIstio(o => o.Address = new Uri("ftp://istiod:15012"));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("ftp://istiod:15012", ex.Message, StringComparison.Ordinal);
    }
}
