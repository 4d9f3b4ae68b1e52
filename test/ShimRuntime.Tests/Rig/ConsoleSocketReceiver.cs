using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Csshim.Tests.Rig;

/// <summary>
/// The receiving end of `--console-socket`: a unix socket that accepts one connection and takes the pty master
/// fd the runtime sends with SCM_RIGHTS, then reads what the container writes to its terminal.
/// </summary>
public sealed class ConsoleSocketReceiver : IDisposable
{
    private readonly Socket listener;
    private readonly Task<int> receive;
    private readonly StringBuilder output = new();
    private int masterFd = -1;

    public string SocketPath { get; }

    public ConsoleSocketReceiver(string socketPath)
    {
        SocketPath = socketPath;
        listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        receive = Task.Run(ReceiveFd);
    }

    private int ReceiveFd()
    {
        using var conn = listener.Accept();
        return RecvFd((int)conn.Handle);
    }

    private static unsafe int RecvFd(int sock)
    {
        // runc/runsc send the pty name as the payload and one fd in the control message.
        var payload = stackalloc byte[4096];
        var control = stackalloc byte[64];
        var iov = new Native.IoVec { Base = payload, Len = 4096 };
        var msg = new Native.MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
        var n = Native.RecvMsg(sock, &msg, 0);
        if (n < 0)
            throw new IOException($"recvmsg on console socket failed: errno {Marshal.GetLastPInvokeError()}");
        if (msg.ControlLen < (nuint)sizeof(Native.CmsgHdr) + sizeof(int))
            throw new IOException($"console socket message carried no fd ({n} bytes payload, {msg.ControlLen} bytes control)");
        var cmsg = (Native.CmsgHdr*)control;
        if (cmsg->Level != Native.SOL_SOCKET || cmsg->Type != Native.SCM_RIGHTS)
            throw new IOException($"console socket control message is level {cmsg->Level} type {cmsg->Type}, not SCM_RIGHTS");
        return *(int*)(control + sizeof(Native.CmsgHdr));
    }

    /// <summary>Waits for the runtime to send the master fd.</summary>
    public int WaitForMaster(TimeSpan timeout)
    {
        if (!receive.Wait(timeout))
            throw new TimeoutException($"no pty master received on {SocketPath} within {timeout.TotalSeconds}s");
        masterFd = receive.Result;
        return masterFd;
    }

    public bool Received => receive.IsCompletedSuccessfully;

    /// <summary>
    /// Reads the terminal until <paramref name="expected"/> appears, the slave side is closed (EIO) or the
    /// timeout passes; returns everything read so far.
    /// </summary>
    public unsafe string ReadUntil(string expected, TimeSpan timeout)
    {
        if (masterFd < 0) WaitForMaster(timeout);
        var deadline = DateTime.UtcNow + timeout;
        var buf = stackalloc byte[4096];
        while (!output.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
            if (left <= 0) break;
            var pfd = new Native.PollFd { Fd = masterFd, Events = Native.POLLIN };
            var ready = Native.Poll(&pfd, 1, Math.Min(left, 500));
            if (ready < 0) break;
            if (ready == 0) continue;
            var n = Native.Read(masterFd, buf, 4096);
            if (n <= 0) break; // EIO once the container side is closed
            output.Append(Encoding.UTF8.GetString(buf, (int)n));
        }
        return output.ToString();
    }

    public void Dispose()
    {
        listener.Dispose();
        if (masterFd < 0 && receive.IsCompletedSuccessfully) masterFd = receive.Result;
        if (masterFd >= 0) Native.Close(masterFd);
        masterFd = -1;
        try { File.Delete(SocketPath); } catch (IOException) { }
    }
}
