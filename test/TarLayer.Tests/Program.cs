using Csshim.TarLayer;

namespace Csshim.Tests;

/// <summary>
/// The test assembly doubles as a child process for what must run under limits the test host cannot take on itself
/// (its own RLIMIT_NOFILE is far above 64 and it holds hundreds of fds): `dotnet TarLayer.Tests.dll snapshot UPPER
/// ARCHIVE` writes a snapshot and prints the RLIMIT_NOFILE it ran under. Without arguments it does
/// nothing (the test adapter never calls it).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is not ["snapshot", var upper, var archive]) return 0;
        Console.WriteLine($"nofile {FdLimit.Soft}");
        try
        {
            using var output = File.Create(archive);
            UpperArchive.Write(upper, output);
            return 0;
        }
        catch (SnapshotFailedException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 1;
        }
    }
}
