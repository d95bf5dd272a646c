using System.Diagnostics.CodeAnalysis;
using Hbone.Kestrel;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses how an HBONE server handles CONNECTs; returned by <c>AddHboneServer</c>.</summary>
public sealed class HboneServerBuilder
{
    internal HboneServerBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Forwards each CONNECT to its authority over TCP (<see cref="HboneForwarder"/>).</summary>
    public HboneServerBuilder AddForwarder(Action<HboneForwarderOptions>? configure = null)
    {
        var options = Services.AddOptions<HboneForwarderOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        Services.AddSingleton<IHboneConnectHandler, HboneForwarder>();
        return this;
    }

    /// <summary>Handles each CONNECT with <typeparamref name="THandler"/> (registered as a singleton).</summary>
    public HboneServerBuilder AddHandler<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>()
        where THandler : class, IHboneConnectHandler
    {
        Services.AddSingleton<IHboneConnectHandler, THandler>();
        return this;
    }

    /// <summary>Handles each CONNECT with <paramref name="handler"/>.</summary>
    public HboneServerBuilder AddHandler(Func<HboneConnectContext, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Services.AddSingleton<IHboneConnectHandler>(new DelegateConnectHandler(handler));
        return this;
    }

    private sealed class DelegateConnectHandler(Func<HboneConnectContext, ValueTask> handler) : IHboneConnectHandler
    {
        public ValueTask HandleAsync(HboneConnectContext context) => handler(context);
    }
}
