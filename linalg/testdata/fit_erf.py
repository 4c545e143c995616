"""Fits the rational approximation erf(x) ~ x*P(x^2)/Q(x^2) on [0, 4] used by
linalg's erf64 (degrees 6 and 5 in x^2) and prints the coefficients and the
maximum error. Sanathanan-Koerner iteration for a linear least-squares fit,
then Lawson reweighting towards minimax. Run: /usr/bin/python3 fit_erf.py
"""
import numpy as np, math
xs=np.concatenate([np.cos(np.linspace(0,np.pi,6001))*2+2, np.linspace(0,4,6001)])
e=np.array([math.erf(x) for x in xs])
P,Q=7,5
den=np.ones_like(xs); lw=np.ones_like(xs)
for it in range(200):
    A=np.zeros((len(xs),P+Q))
    for i in range(P): A[:,i]=xs**(2*i+1)
    for j in range(Q): A[:,P+j]=-e*xs**(2*(j+1))
    w=lw/den
    sol,*_=np.linalg.lstsq(A*w[:,None],e*w,rcond=None)
    p=sol[:P]; q=np.concatenate([[1],sol[P:]])
    num=sum(p[i]*xs**(2*i+1) for i in range(P)); den=np.abs(sum(q[j]*xs**(2*j) for j in range(Q+1)))
    r=np.abs(num/den-e)
    if it>20:
        lw=lw*(r/r.max())**0.3; lw/=lw.sum()
print("p=",list(p)); print("q=",list(q))
xt=np.linspace(0,6,600001)
def ev(x,dt):
    x=np.minimum(x,4).astype(dt); x2=x*x
    n=np.zeros_like(x)
    for c in p[::-1]: n=n*x2+dt(c)
    n=n*x
    d=np.zeros_like(x)
    for c in q[::-1]: d=d*x2+dt(c)
    return n/d
et=np.array([math.erf(x) for x in xt])
print("f64 err",np.abs(ev(xt,np.float64)-et).max(),"f32 err",np.abs(ev(xt,np.float32).astype(np.float64)-et).max())
