namespace Hbone.Http2;

/// <summary>The final response head of a stream: status and regular headers.</summary>
internal sealed record Http2Response(int Status, KeyValuePair<string, string>[] Headers, bool EndStream);
