using Hbone.Istio.ControlPlane;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the connection to istiod; add certificates and xDS on the returned builder.</summary>
public static class IstioServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="ControlPlaneChannel"/> to istiod (xDS and CA share it, as istiod serves both on 15012),
    /// configured by <paramref name="configure"/> and validated when the host starts.
    /// </summary>
    public static IstioBuilder AddIstio(this IServiceCollection services, Action<IstioConnectionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<IstioConnectionOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton(Validator<IstioConnectionOptions>(static o => o.Validate()));
        services.AddSingleton(static sp => new ControlPlaneChannel(sp.GetRequiredService<IOptions<IstioConnectionOptions>>().Value));
        return new IstioBuilder(services);
    }

    // Options validation reports ArgumentException; the Istio types throw IstioException(InvalidOptions).
    internal static IValidateOptions<TOptions> Validator<TOptions>(Action<TOptions> validate)
        where TOptions : class => new Hbone.HboneOptionsValidator<TOptions>(options =>
        {
            try
            {
                validate(options);
            }
            catch (Hbone.Istio.IstioException ex)
            {
                throw new ArgumentException(ex.Message, ex);
            }
        });
}
