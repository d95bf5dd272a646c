using System.Diagnostics.Metrics;
using Hbone.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the HBONE client.</summary>
public static class HboneClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="HboneClient"/> (its connection pool) configured by <paramref name="configure"/>;
    /// the options are validated when the host starts.
    /// </summary>
    public static IServiceCollection AddHbone(this IServiceCollection services, Action<HboneClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<HboneClientOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HboneClientOptions>>(new Hbone.HboneOptionsValidator<HboneClientOptions>(static o => o.Validate()));
        services.AddSingleton(static sp => new HboneClient(
            sp.GetRequiredService<IOptions<HboneClientOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>()));
        return services;
    }
}
