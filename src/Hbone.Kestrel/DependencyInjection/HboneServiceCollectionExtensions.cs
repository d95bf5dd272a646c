using Hbone.Kestrel;
using Hbone.Kestrel.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers an HBONE server.</summary>
public static class HboneServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="HboneServerOptions"/> (validated at start) and sets the host's shutdown timeout to
    /// <see cref="HboneServerOptions.DrainTimeout"/>, the time open tunnels get after GOAWAY. Also gives Kestrel's
    /// transports a pool of 32 KiB blocks in place of its 4 KiB ones (every listener of the host uses it): with 4 KiB
    /// blocks a tunnel costs one receive and one TLS write per 4 KiB.
    /// </summary>
    public static HboneServerBuilder AddHboneServer(this IServiceCollection services, Action<HboneServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<HboneServerOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HboneServerOptions>>(new Hbone.HboneOptionsValidator<HboneServerOptions>(static o => o.Validate()));
        services.AddSingleton<IConfigureOptions<HostOptions>>(sp => new ConfigureOptions<HostOptions>(host =>
            host.ShutdownTimeout = sp.GetRequiredService<IOptions<HboneServerOptions>>().Value.DrainTimeout));
        services.Replace(ServiceDescriptor.Singleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>());
        return new HboneServerBuilder(services);
    }
}
