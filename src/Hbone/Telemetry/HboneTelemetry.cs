namespace Hbone.Telemetry;

/// <summary>Names to subscribe to for HBONE client telemetry (OpenTelemetry: AddMeter / AddSource).</summary>
public static class HboneTelemetry
{
    /// <summary>The Meter: <c>hbone.client.connections.opened|closed</c>, <c>hbone.client.streams.opened|failed</c>, <c>hbone.client.bytes.sent|received</c>.</summary>
    public const string ClientMeterName = "Hbone.Client";

    /// <summary>The ActivitySource: one <c>hbone.connect</c> span per tunnel, whose context is the <c>traceparent</c> sent.</summary>
    public const string ClientActivitySourceName = "Hbone.Client";
}
