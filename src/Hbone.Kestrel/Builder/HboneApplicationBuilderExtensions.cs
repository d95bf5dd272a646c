using Hbone.Kestrel;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Kept for source compatibility: HBONE listeners no longer use the request pipeline.</summary>
public static class HboneApplicationBuilderExtensions
{
    /// <summary>
    /// Does nothing: an HBONE listener (<c>ListenHbone</c>/<c>UseHbone</c> on Kestrel) runs its own HTTP/2 engine
    /// and hands CONNECTs to the registered <see cref="IHboneConnectHandler"/> without the middleware pipeline.
    /// </summary>
    [Obsolete("HBONE listeners run their own HTTP/2 engine; the request pipeline is not used. Remove this call.")]
    public static IApplicationBuilder UseHbone(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app;
    }
}
