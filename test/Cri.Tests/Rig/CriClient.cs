using System.Net.Sockets;
using Csshim.Cri.Api;
using Grpc.Net.Client;

namespace Csshim.Cri.Rig;

/// <summary>containerd's CRI endpoint on its unix socket, as a kubelet reaches it: gRPC over HTTP/2 without TLS.</summary>
public sealed class CriClient : IDisposable
{
    readonly GrpcChannel _channel;
    public RuntimeService.RuntimeServiceClient Runtime { get; }

    public CriClient(string socket)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), token);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        };
        // The authority is a placeholder: the connection goes to the socket whatever the URI names.
        _channel = GrpcChannel.ForAddress("http://containerd", new GrpcChannelOptions { HttpHandler = handler });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
    }

    public void Dispose() => _channel.Dispose();
}
