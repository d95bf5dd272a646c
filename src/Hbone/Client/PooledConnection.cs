using Hbone.Http2;
using Hbone.Identity;

namespace Hbone.Client;

/// <summary>A pooled HTTP/2 connection with what it was made with: the certificate and its creation time.</summary>
internal sealed record PooledConnection(Http2ClientConnection Connection, Svid Certificate, long CreatedTimestamp);
