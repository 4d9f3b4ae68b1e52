using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Commands;

/// <summary>The archive file of `tar rootfs-upper --file F`: written as an unnamed O_TMPFILE in F's directory and
/// given its name only when complete, so a snapshot that fails or is killed leaves neither half an archive under F
/// nor a stray temp file; the mode is runsc's 0644 whatever the umask.</summary>
internal static class SnapshotFile
{
    private const uint Mode = 0x1A4; // 0644

    public static void Write(string file, Action<Stream> write)
    {
        var dir = Path.GetDirectoryName(file)!;
        int fd = Linux.OpenTmpFile(dir, Linux.O_WRONLY, Mode);
        if (fd < 0) throw new IOException($"cannot create a file in {dir}: {Linux.Error(Linux.LastErrno)}");
        using (var output = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, bufferSize: 0))
        {
            write(output);
            output.Flush(flushToDisk: true);
            if (Syscall.fchmod(fd, (FilePermissions)Mode) != 0) throw new IOException($"cannot chmod the snapshot: {Linux.Error(Linux.LastErrno)}");
            // linkat cannot replace F: link under a temp name, then rename over F in one step.
            var named = Path.Combine(dir, $".{Path.GetFileName(file)}.csshim-{Environment.ProcessId}");
            File.Delete(named);
            if (Syscall.linkat(Linux.AT_FDCWD, $"/proc/self/fd/{fd}", Linux.AT_FDCWD, named, AtFlags.AT_SYMLINK_FOLLOW) != 0)
                throw new IOException($"cannot link the snapshot into {dir}: {Linux.Error(Linux.LastErrno)}");
            try
            {
                File.Move(named, file, overwrite: true);
            }
            catch
            {
                File.Delete(named);
                throw;
            }
        }
    }
}
