using Hbone.Kestrel;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers an HBONE server.</summary>
public static class HboneServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="HboneServerOptions"/> (validated at start) and sets the host's shutdown timeout to
    /// <see cref="HboneServerOptions.DrainTimeout"/>, the time open tunnels get after GOAWAY.
    /// </summary>
    public static HboneServerBuilder AddHboneServer(this IServiceCollection services, Action<HboneServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<HboneServerOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HboneServerOptions>>(new Hbone.HboneOptionsValidator<HboneServerOptions>(static o => o.Validate()));
        services.AddSingleton<IConfigureOptions<HostOptions>>(sp => new ConfigureOptions<HostOptions>(host =>
            host.ShutdownTimeout = sp.GetRequiredService<IOptions<HboneServerOptions>>().Value.DrainTimeout));
        return new HboneServerBuilder(services);
    }
}
