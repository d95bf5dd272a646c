using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>
/// Serves one meter's instruments to Prometheus through OpenTelemetry's Prometheus exporter, set up to write the names
/// ztunnel writes: no <c>target_info</c> family, no <c>otel_scope_*</c> labels, and every scrape collects afresh (no cache).
/// </summary>
/// <remarks>
/// Text format 0.0.4 unless the scraper asks for OpenMetrics (<c>Accept: application/openmetrics-text</c>, as Prometheus
/// servers do), then OpenMetrics 1.0 with <c>_created</c> samples and <c># EOF</c>. Families without series are left out,
/// as ztunnel (prometheus-client 0.24) does.
/// </remarks>
internal sealed class PrometheusMetrics : IDisposable
{
    /// <summary>The Content-Type of the text format, also given to an exposition that has no series yet (the exporter writes none then).</summary>
    public const string TextContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterProvider _provider;

    /// <summary>Collects the instruments of exactly <paramref name="meter"/> (other meters of its name are left out).</summary>
    public PrometheusMetrics(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            // The SDK subscribes by name; a view keeps only this instance (tests and embedders run several in one process).
            .AddView(instrument => ReferenceEquals(instrument.Meter, meter) ? null : MetricStreamConfiguration.Drop)
            .AddPrometheusExporter(options =>
            {
                options.ScopeInfoEnabled = false;
                options.TargetInfoEnabled = false;
                options.ScrapeResponseCacheDurationMilliseconds = 0;
            })
            .Build();
    }

    /// <summary>Answers the requests <paramref name="predicate"/> selects with a scrape of the meter.</summary>
    public void MapScrapingEndpoint(IApplicationBuilder app, Func<HttpContext, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(predicate);
        app.UseOpenTelemetryPrometheusScrapingEndpoint(
            _provider,
            predicate,
            path: null,
            configureBranchedPipeline: static branch => branch.Use(static (context, next) =>
            {
                context.Response.ContentType = TextContentType;
                return next(context);
            }),
            optionsName: null);
    }

    /// <summary>Stops collecting.</summary>
    public void Dispose() => _provider.Dispose();
}
