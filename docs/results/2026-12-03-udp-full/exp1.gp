set terminal pngcairo size 960,600 font ',10'
set output 'exp1.png'
set title "1. Latency against request size (Figs 10, 11)"
set xlabel "request size (bytes)"
set ylabel "latency (us): p50, bar to p99"
set key inside top left box opaque font ',9'
set grid
set logscale x 2
set logscale y
plot 'exp1.dat' index 0 using 1:2:2:3 with yerrorlines title "clio read", \
     'exp1.dat' index 1 using 1:2:2:3 with yerrorlines title "clio write", \
     'exp1.dat' index 2 using 1:2:2:3 with yerrorlines title "server read", \
     'exp1.dat' index 3 using 1:2:2:3 with yerrorlines title "server write", \
     'exp1.dat' index 4 using 1:2:2:3 with yerrorlines title "pnic read", \
     'exp1.dat' index 5 using 1:2:2:3 with yerrorlines title "pnic write", \
     'exp1.dat' index 6 using 1:2:2:3 with yerrorlines title "memcached get", \
     'exp1.dat' index 7 using 1:2:2:3 with yerrorlines title "memcached set", \
     'exp1.dat' index 8 using 1:2:2:3 with yerrorlines title "redis getrange", \
     'exp1.dat' index 9 using 1:2:2:3 with yerrorlines title "redis setrange", \
     'exp1.dat' index 10 using 1:2:2:3 with yerrorlines title "floor udp-pingpong", \
     'exp1.dat' index 11 using 1:2 with linespoints dashtype 2 lc rgb 'gray40' title "paper: Clio read (FPGA, 10 Gbps)", \
     'exp1.dat' index 12 using 1:2 with linespoints dashtype 2 lc rgb 'gray40' title "paper: Clio write"
