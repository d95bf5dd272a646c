using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hbone.Telemetry;

/// <summary>The client's instruments. Counters cost nothing measurable without a listener.</summary>
internal sealed class HboneClientMetrics : IDisposable
{
    public static readonly ActivitySource ActivitySource = new(HboneTelemetry.ClientActivitySourceName);

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _connectionsOpened;
    private readonly Counter<long> _connectionsClosed;
    private readonly Counter<long> _streamsOpened;
    private readonly Counter<long> _streamsFailed;
    private readonly Counter<long> _bytesSent;
    private readonly Counter<long> _bytesReceived;

    public HboneClientMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(HboneTelemetry.ClientMeterName) ?? new Meter(HboneTelemetry.ClientMeterName);
        _connectionsOpened = _meter.CreateCounter<long>("hbone.client.connections.opened", "{connection}", "HTTP/2 connections dialed.");
        _connectionsClosed = _meter.CreateCounter<long>("hbone.client.connections.closed", "{connection}", "HTTP/2 connections closed.");
        _streamsOpened = _meter.CreateCounter<long>("hbone.client.streams.opened", "{stream}", "Tunnels opened (200 received).");
        _streamsFailed = _meter.CreateCounter<long>("hbone.client.streams.failed", "{stream}", "Tunnels that failed to open, by error.type.");
        _bytesSent = _meter.CreateCounter<long>("hbone.client.bytes.sent", "By", "Tunnel payload bytes sent.");
        _bytesReceived = _meter.CreateCounter<long>("hbone.client.bytes.received", "By", "Tunnel payload bytes received.");
    }

    public void ConnectionOpened() => _connectionsOpened.Add(1);

    public void ConnectionClosed() => _connectionsClosed.Add(1);

    public void StreamOpened() => _streamsOpened.Add(1);

    public void StreamFailed(string errorType) => _streamsFailed.Add(1, new KeyValuePair<string, object?>("error.type", errorType));

    public void BytesSent(long count) => _bytesSent.Add(count);

    public void BytesReceived(long count) => _bytesReceived.Add(count);

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
