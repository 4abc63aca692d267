set terminal pngcairo size 960,600 font ',10'
set output 'exp6.png'
set title "6. ralloc and rfree against size (Fig 12); ralloc retries (Fig 13)"
set xlabel "allocation size (MiB)"
set ylabel "latency (us): p50, bar to p99"
set key inside top left box opaque font ',9'
set grid
set logscale x 2
set logscale y
plot 'exp6.dat' index 0 using 1:2:2:3 with yerrorlines title "clio ralloc", \
     'exp6.dat' index 1 using 1:2:2:3 with yerrorlines title "clio rfree", \
     'exp6.dat' index 2 using 1:2:2:3 with yerrorlines title "server ralloc", \
     'exp6.dat' index 3 using 1:2:2:3 with yerrorlines title "server rfree", \
     'exp6.dat' index 4 using 1:2:2:3 with yerrorlines title "pnic ralloc", \
     'exp6.dat' index 5 using 1:2:2:3 with yerrorlines title "pnic rfree", \
     'exp6.dat' index 6 using 1:2 with linespoints dashtype 2 lc rgb 'gray40' title "paper: Clio ralloc 36-320 us"
