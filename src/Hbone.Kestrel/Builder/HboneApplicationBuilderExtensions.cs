using Hbone.Kestrel;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds HBONE request handling to the pipeline.</summary>
public static class HboneApplicationBuilderExtensions
{
    /// <summary>
    /// Terminates the pipeline with HBONE: every request is checked as a CONNECT (400 otherwise) and handed to
    /// the registered <see cref="IHboneConnectHandler"/>.
    /// </summary>
    public static IApplicationBuilder UseHbone(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<HboneConnectMiddleware>();
    }
}
