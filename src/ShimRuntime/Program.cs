Console.WriteLine("csshim");
